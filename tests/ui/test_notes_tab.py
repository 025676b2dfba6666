"""The notes tab's handlers without Gradio: the status line, the notes table, upload, remove, re-ingest and the
watch toggle, over a temporary notes folder with the ingest replaced by a recording stand-in (no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import Skipped
from ingest.pipeline import IngestReport
from ingest.store import IndexCorruptError, IndexLockedError
from notesqa.settings import Settings
from ui import notes_tab
from ui.notes_tab import (
    NotesView,
    index_summary,
    note_rows,
    reingest_notes,
    remove_note,
    set_watching,
    upload_notes,
    watch_report,
)


class Ingests:
    """Stands in for ``ingest.pipeline.ingest``: records each call, raises the queued errors first."""

    def __init__(self, *errors: Exception, report: IngestReport | None = None):
        self.errors = list(errors)
        self.report = report or IngestReport(files_added=1, chunks_embedded=2, chunks_total=2)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, settings: Settings, **kwargs: Any) -> IngestReport:
        self.calls.append(kwargs)
        if kwargs.get("progress") is not None:
            kwargs["progress"]("files", 1, 2)
        if self.errors:
            raise self.errors.pop(0)
        return self.report


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# A\n\n第一篇。", encoding="utf-8")
    return Settings(corpus_dir=notes, index_dir=tmp_path / "index", data_dir=tmp_path / "data", max_upload_mb=0.001)


@pytest.fixture()
def ingests(monkeypatch: pytest.MonkeyPatch) -> Ingests:
    fake = Ingests()
    monkeypatch.setattr(notes_tab, "ingest", fake)
    return fake


def test_status_and_table_before_the_first_ingest(settings: Settings) -> None:
    assert index_summary(settings).startswith("⚠️ 还没有索引 / no index yet")
    assert note_rows(settings) == [["a.md", "", 0, "not ingested"]]


def test_status_of_an_index_and_of_a_damaged_one(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    class Manifest:
        def __init__(self) -> None:
            self.files, self.chunk_count = {"a.md": None, "b.md": None}, 7

    monkeypatch.setattr(notes_tab, "read_manifest", lambda index_dir: Manifest())
    assert index_summary(settings) == f"索引 / index: 2 notes · 7 chunks · `{settings.index_dir}`"

    def damaged(index_dir: Path) -> Any:
        raise IndexCorruptError("The index is damaged.")

    monkeypatch.setattr(notes_tab, "read_manifest", damaged)
    assert index_summary(settings) == "⚠️ The index is damaged."


def test_reingest_waits_for_the_lock_reports_progress_and_lists_skipped_notes(
    settings: Settings, ingests: Ingests
) -> None:
    ingests.report.skipped = [Skipped("<b>.pdf", "no text layer")]
    ticks: list[tuple[str, int, int]] = []
    view = reingest_notes(settings, lambda *tick: ticks.append(tick))
    assert ingests.calls[0]["lock_wait_s"] == settings.ingest_lock_wait_s and ticks == [("files", 1, 2)]
    assert view.message.startswith("✅ 1 added, 0 changed")
    assert "- skipped `&lt;b&gt;.pdf`: no text layer" in view.message
    assert view.rows == note_rows(settings) and view.removable == ["a.md"] and view.status == index_summary(settings)


def test_reingest_rebuilds_a_damaged_index(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Ingests(IndexCorruptError("The index is damaged (chunks.jsonl unreadable). Run --rebuild."))
    monkeypatch.setattr(notes_tab, "ingest", fake)
    view = reingest_notes(settings)
    assert [c.get("rebuild", False) for c in fake.calls] == [False, True]
    assert view.message.startswith("✅ rebuilt a damaged index (The index is damaged): 1 added")


def test_reingest_problems_are_shown(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notes_tab, "ingest", Ingests(IndexLockedError("Another ingest is writing <it>.")))
    view = reingest_notes(settings)
    assert view.message == "⚠️ Another ingest is writing &lt;it&gt;." and view.removable == ["a.md"]


def test_upload_adds_the_good_files_reports_the_others_then_reingests(
    settings: Settings, ingests: Ingests, tmp_path: Path
) -> None:
    good, big, bad = tmp_path / "b.md", tmp_path / "big.md", tmp_path / "c.exe"
    good.write_text("# B\n\n第二篇。", encoding="utf-8")
    big.write_text("x" * 2000, encoding="utf-8")  # over max_upload_mb
    bad.write_bytes(b"MZ")

    class Upload:  # what Gradio hands over for a file: an object with the temporary file's path
        name = str(good)

    view = upload_notes(settings, [Upload(), str(big), str(bad)])
    assert (Path(settings.corpus_dir) / "b.md").is_file() and len(ingests.calls) == 1
    head, errors, reingested = view.message.split("\n\n")
    assert head == "Added: b.md"
    assert errors.count("⚠️") == 2 and "upload limit" in errors and "c.exe" in errors
    assert reingested.startswith("✅") and view.removable == ["a.md", "b.md"]


def test_an_upload_with_nothing_to_add_does_not_reingest(settings: Settings, ingests: Ingests) -> None:
    assert upload_notes(settings, None) == NotesView("", note_rows(settings), index_summary(settings), None)
    assert ingests.calls == []


def test_remove_moves_the_note_to_the_trash_then_reingests(settings: Settings, ingests: Ingests) -> None:
    assert remove_note(settings, None).message == "Choose a note first. / 请先选择笔记。"
    missing = remove_note(settings, "../a.md")
    assert missing.message.startswith("⚠️") and missing.removable is None and ingests.calls == []
    view = remove_note(settings, "a.md")
    assert view.message.startswith("Moved a.md to ") and ".trash" in view.message and "\n\n✅ 1 added" in view.message
    assert not (Path(settings.corpus_dir) / "a.md").exists() and view.removable == [] and len(ingests.calls) == 1


def test_the_watch_toggle_and_log(settings: Settings) -> None:
    class Watcher:
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.running = False

        def start(self) -> None:
            self.running = True

        def stop(self) -> None:
            self.running = False

    watcher = Watcher()
    assert set_watching(watcher, True) == "👀 watching the notes folder / 正在监视笔记文件夹" and watcher.running  # type: ignore[arg-type]
    assert watch_report(settings, watcher)[0] == "👀 watching / 正在监视\n\n(no changes yet)"  # type: ignore[arg-type]
    watcher.lines = ["10:00:01 added <x>.md → 1 added", "10:00:05 deleted x.md → 1 removed"]
    log, rows, status = watch_report(settings, watcher)  # type: ignore[arg-type]
    assert log.splitlines()[2:] == ["- 10:00:05 deleted x.md → 1 removed", "- 10:00:01 added &lt;x&gt;.md → 1 added"]
    assert rows == note_rows(settings) and status == index_summary(settings)
    assert set_watching(watcher, False) == "👀 not watching / 未监视" and not watcher.running  # type: ignore[arg-type]
