"""The notes tab: the notes in the knowledge base, uploading, removing and re-ingesting notes, watching the notes
folder; and the index status line above the tabs.

The handlers are plain functions of explicit state (the settings, the folder ``ingest.watch.Watcher``) that return
plain values, so they are tested without Gradio; :func:`build_status` and :func:`build_notes_tab` lay out the
components and wire the handlers to them.
"""

from __future__ import annotations

import html
import os
from typing import Any, NamedTuple

from ingest.loaders import NotesError
from ingest.notes import add_note, list_notes, retire_note
from ingest.pipeline import Progress, ingest
from ingest.store import (
    IndexCorruptError,
    IndexLockedError,
    IndexMissingError,
    IndexWriteError,
    read_manifest,
)
from ingest.watch import Watcher
from notesqa.settings import Settings
from ui.backend import Backend
from ui.progress import STAGES

NOTES_HEADERS = ["file", "title", "chunks", "last ingested"]


class NotesView(NamedTuple):
    """What an ingest from this tab updates."""

    message: str
    """The summary under the buttons (markdown)."""
    rows: list[list[Any]]
    """The notes table (:func:`note_rows`)."""
    status: str
    """The index status line (:func:`index_summary`)."""
    removable: list[str] | None
    """The notes the remove list offers (None: unchanged)."""


def index_summary(settings: Settings) -> str:
    """The index status line: how many notes and chunks, or what is wrong with the index."""
    try:
        m = read_manifest(settings.index_dir)
        return f"索引 / index: {len(m.files)} notes · {m.chunk_count} chunks · `{settings.index_dir}`"
    except IndexMissingError:
        return "⚠️ 还没有索引 / no index yet: open the Notes tab and press Re-ingest."
    except IndexCorruptError as exc:
        return f"⚠️ {exc}"


def note_rows(settings: Settings) -> list[list[Any]]:
    """The notes table: file, title, chunks, last ingested."""
    return [[n.source, n.title, n.chunks, n.ingested] for n in list_notes(settings)]


def reingest_notes(settings: Settings, progress: Progress | None = None) -> NotesView:
    """Bring the index in line with the notes folder; a damaged index is rebuilt from the notes (the button is
    how a UI user recovers)."""
    try:
        try:
            r = ingest(settings, progress=progress, lock_wait_s=settings.ingest_lock_wait_s)
            msg = f"✅ {r.describe()}"
        except IndexCorruptError as exc:
            r = ingest(settings, progress=progress, lock_wait_s=settings.ingest_lock_wait_s, rebuild=True)
            msg = f"✅ rebuilt a damaged index ({html.escape(str(exc).split(' (')[0])}): {r.describe()}"
        msg += "".join(f"\n- skipped `{html.escape(x.source)}`: {x.reason}" for x in r.skipped)
    except (NotesError, IndexLockedError, IndexCorruptError, IndexWriteError) as exc:
        msg = f"⚠️ {html.escape(str(exc))}"
    rows = note_rows(settings)
    return NotesView(msg, rows, index_summary(settings), [r[0] for r in rows])


def upload_notes(settings: Settings, files: list[Any] | None, progress: Progress | None = None) -> NotesView:
    """Add uploaded files (paths, or objects with a ``name`` path) to the notes folder, then re-ingest; a file
    that is refused (too large, not a note) is reported and the others are still added."""
    added, errors = [], []
    for f in files or []:
        path = f if isinstance(f, str) else f.name
        try:
            with open(path, "rb") as fh:
                data = fh.read(int(settings.max_upload_mb * 1_000_000) + 1)
            added.append(add_note(settings, os.path.basename(path), data).name)
        except NotesError as exc:
            errors.append(f"⚠️ {html.escape(str(exc))}")
    if added:
        view = reingest_notes(settings, progress)
    else:
        view = NotesView("", note_rows(settings), index_summary(settings), None)
    head = f"Added: {', '.join(added)}\n\n" if added else ""
    return view._replace(message=head + "\n".join(errors) + ("\n\n" + view.message if view.message else ""))


def remove_note(settings: Settings, source: str | None, progress: Progress | None = None) -> NotesView:
    """Move a note to the notes folder's trash, then re-ingest."""
    if not source:
        return NotesView("Choose a note first. / 请先选择笔记。", note_rows(settings), index_summary(settings), None)
    try:
        moved = retire_note(settings, source)
    except NotesError as exc:
        return NotesView(f"⚠️ {html.escape(str(exc))}", note_rows(settings), index_summary(settings), None)
    view = reingest_notes(settings, progress)
    return view._replace(message=f"Moved {html.escape(source)} to {html.escape(str(moved))}\n\n{view.message}")


def set_watching(watcher: Watcher, on: bool) -> str:
    """Start or stop watching the notes folder; returns the tab's watch line."""
    if on:
        watcher.start()
    else:
        watcher.stop()
    state = "watching the notes folder" if on else "not watching"
    return f"👀 {state} / {'正在监视笔记文件夹' if on else '未监视'}"


def watch_report(settings: Settings, watcher: Watcher) -> tuple[str, list[list[Any]], str]:
    """The watcher's log (newest first), the notes table and the index status line."""
    lines = "\n".join(f"- {html.escape(line)}" for line in reversed(watcher.lines)) or "(no changes yet)"
    return f"👀 watching / 正在监视\n\n{lines}", note_rows(settings), index_summary(settings)


# --- layout and wiring --------------------------------------------------------------------------------------------
def build_status(backend: Backend, kb: Any) -> Any:
    """The index status line of the chosen knowledge base (``kb``, a dropdown), re-read on every page load and
    switch; the notes tab updates it after each ingest."""
    import gradio as gr

    def index_status(name: str | None = None) -> str:
        return index_summary(backend.settings_for(name))

    status = gr.Markdown(index_status)
    kb.change(index_status, kb, status, queue=False)
    return status


def build_notes_tab(backend: Backend, status: Any, kb: Any, scope: Any | None = None) -> None:
    """The notes tab of the knowledge base chosen in ``kb`` (a dropdown), wired to the handlers above;
    ``status`` is the index status line it updates and ``scope`` the chat's folder/tag selector it refreshes.
    The functions here only bind the knowledge base's settings and its watcher (not started: the toggle starts
    it) to the handlers and turn their values into Gradio updates; their names are the API's."""
    import gradio as gr

    from ui.chat_tab import scope_choices

    settings = backend.settings
    watchers: dict[str, Watcher] = {}

    def watcher_of(name: str | None) -> Watcher:
        s = backend.settings_for(name)
        return watchers.setdefault(s.knowledge_base, Watcher(s))

    def notes_table(name: str | None = None) -> list[list[Any]]:
        return note_rows(backend.settings_for(name))

    with gr.Tab("笔记 / Notes"):
        table = gr.Dataframe(
            value=notes_table,
            headers=NOTES_HEADERS,
            interactive=False,
            label="知识库中的笔记 / notes in the knowledge base",
        )
        with gr.Row():
            files = gr.File(
                file_count="multiple",
                file_types=[".md", ".markdown", ".txt"],
                label=f"上传笔记 / upload notes (.md/.txt, ≤ {settings.max_upload_mb} MB)",
            )
            with gr.Column():
                reingest_btn = gr.Button("🔄 重新导入 / Re-ingest", variant="primary")
                victim = gr.Dropdown(choices=[n.source for n in list_notes(settings)], label="删除笔记 / remove a note")
                delete_btn = gr.Button("🗑️ 删除 / Remove", variant="stop")
                watching = gr.Checkbox(value=False, label="👀 自动导入 / watch the folder and re-ingest on change")
        summary = gr.Markdown()
        watch_md = gr.Markdown()
        ticker = gr.Timer(2.0, active=False)

    def shown(view: NotesView) -> tuple[str, list[list[Any]], str, Any]:
        removable = gr.update() if view.removable is None else gr.update(choices=view.removable)
        return view.message, view.rows, view.status, removable

    def ticks(progress: Any) -> Progress:
        return lambda stage, done, total: progress((done, total), desc=STAGES[stage])

    def reingest(name: str, progress: Any = gr.Progress()) -> tuple[str, list[list[Any]], str, Any]:  # noqa: B008
        return shown(reingest_notes(backend.settings_for(name), ticks(progress)))

    def upload(files: list[Any] | None, name: str,
               progress: Any = gr.Progress()) -> tuple[str, Any, str, Any]:  # noqa: B008
        return shown(upload_notes(backend.settings_for(name), files, ticks(progress)))

    def delete(source: str | None, name: str,
               progress: Any = gr.Progress()) -> tuple[str, Any, str, Any]:  # noqa: B008
        return shown(remove_note(backend.settings_for(name), source, ticks(progress)))

    def toggle_watch(on: bool, name: str) -> tuple[str, Any]:
        for other, w in watchers.items():  # one folder watched at a time: the one on screen
            if other != backend.settings_for(name).knowledge_base:
                w.stop()
        return set_watching(watcher_of(name), on), gr.Timer(active=on)

    def watch_log(name: str) -> tuple[str, list[list[Any]], str]:
        return watch_report(backend.settings_for(name), watcher_of(name))

    def switch(name: str) -> tuple[Any, ...]:
        """Another knowledge base: its notes, nothing watched, the chat's scope choices its folders and tags."""
        for w in watchers.values():
            w.stop()
        rows = notes_table(name)
        out = (rows, gr.update(choices=[r[0] for r in rows], value=None), False, "", gr.Timer(active=False))
        return out if scope is None else (*out, gr.update(choices=scope_choices(backend, name), value=[]))

    ingested = [summary, table, status, victim]  # NotesView's fields
    reingest_btn.click(reingest, kb, ingested, concurrency_id="ingest")
    files.upload(upload, [files, kb], ingested, concurrency_id="ingest")
    delete_btn.click(delete, [victim, kb], ingested, concurrency_id="ingest")
    watching.change(toggle_watch, [watching, kb], [watch_md, ticker], queue=False)
    ticker.tick(watch_log, kb, [watch_md, table, status], queue=False)
    kb.change(switch, kb, [table, victim, watching, watch_md, ticker, *([scope] if scope is not None else [])],
              queue=False)
