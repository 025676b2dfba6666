"""Watch mode: re-ingest incrementally whenever notes in the folder change (debounced, rename-safe)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.loaders import NOTE_SUFFIXES, NotesError, is_ignored
from ingest.pipeline import IngestReport, ingest
from ingest.store import IndexCorruptError, IndexLockedError
from notesqa.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoteChange:
    """One file event that concerns a note."""

    kind: str
    """``added``, ``modified`` or ``deleted`` (an editor's save-by-rename shows as deleted + added)."""
    source: str
    """Path relative to the notes folder."""

    def __str__(self) -> str:
        return f"{self.kind} {self.source}"


def is_note_path(path: Path, root: Path) -> bool:
    """True for note files inside ``root`` that are not ignored (hidden, editor temp files, .trash/,
    node_modules/; see :func:`ingest.loaders.is_ignored`)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    return path.suffix.lower() in NOTE_SUFFIXES and not any(is_ignored(p) for p in rel.parts)


def note_changes(events: Iterable[tuple[object, str]], root: Path) -> list[NoteChange]:
    """The events of one debounced batch that concern notes, one per file, in path order."""
    latest: dict[str, str] = {}
    for change, raw in events:
        path = Path(raw)
        if is_note_path(path, root):
            latest[path.relative_to(root).as_posix()] = getattr(change, "name", str(change))
    return [NoteChange(kind, source) for source, kind in sorted(latest.items())]


def watch(
    settings: Settings,
    path: Path | None = None,
    *,
    on_change: Callable[[list[NoteChange], IngestReport | None, str | None], None] | None = None,
    stop: threading.Event | None = None,
    debounce_ms: int | None = None,
    force_polling: bool | None = None,
) -> None:
    """Block, re-ingesting ``path`` (default: the folder the index mirrors) after each debounced batch of note changes.

    ``on_change(changes, report, error)`` is called once per batch; errors (a locked index, a bad note
    folder) are reported there and watching continues. Returns when ``stop`` is set.
    """
    from watchfiles import watch as watch_files

    from ingest.notes import notes_root

    root = Path(path).resolve() if path else notes_root(settings).resolve()
    if not root.is_dir():
        raise NotesError(f"Notes folder {root} does not exist.")
    debounce = settings.watch_debounce_ms if debounce_ms is None else debounce_ms
    for batch in watch_files(root, debounce=debounce, stop_event=stop, force_polling=force_polling,
                             raise_interrupt=False):
        changes = note_changes(batch, root)
        if not changes:
            continue
        for change in changes:
            log.info("note %s", change)
        report, error = None, None
        try:
            report = ingest(settings, [root], lock_wait_s=settings.ingest_lock_wait_s)
            log.info("re-ingested: %s", report.describe())
        except (NotesError, IndexLockedError, IndexCorruptError, OSError) as exc:
            error = str(exc)
            log.warning("re-ingest failed: %s", error)
        if on_change is not None:
            on_change(changes, report, error)


class Watcher:
    """``watch`` on a background thread, for the UI's toggle; keeps the last log lines."""

    def __init__(self, settings: Settings, path: Path | None = None, keep: int = 20):
        self.settings = settings
        self.path = path
        self.keep = keep
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _log(self, changes: list[NoteChange], report: IngestReport | None, error: str | None) -> None:
        import time

        stamp = time.strftime("%H:%M:%S")
        what = ", ".join(map(str, changes))
        outcome = report.describe() if report is not None else f"failed: {error}"
        self.lines = [*self.lines, f"{stamp} {what} → {outcome}"][-self.keep :]

    def start(self) -> None:
        if self.running:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=watch, args=(self.settings, self.path), daemon=True,
            kwargs={"on_change": self._log, "stop": self._stop},
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
