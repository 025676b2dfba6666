"""Watch mode: note events are filtered and debounced, and a change re-ingests incrementally."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from watchfiles import Change

from ingest.pipeline import ingest
from ingest.store import read_manifest
from ingest.watch import Watcher, is_note_path, note_changes
from notesqa.settings import Settings


def test_only_visible_notes_count(tmp_path: Path) -> None:
    root = tmp_path
    assert is_note_path(root / "a.md", root)
    assert is_note_path(root / "sub" / "b.TXT", root)
    assert is_note_path(root / "papers" / "c.pdf", root) and is_note_path(root / "d.docx", root)
    for other in ["a.md.swp", ".a.md.swp", "~a.md", ".trash/a.md", "a.png", "4913", "a.md~", "~$d.docx",
                  "node_modules/x/README.md", ".obsidian/workspace.md"]:
        assert not is_note_path(root / other, root), other
    assert not is_note_path(tmp_path.parent / "outside.md", root)


def test_a_save_by_rename_is_one_change_per_note(tmp_path: Path) -> None:
    root = tmp_path
    batch = {
        (Change.added, str(root / "note.md.tmp")),
        (Change.deleted, str(root / "note.md")),
        (Change.added, str(root / "note.md")),
        (Change.deleted, str(root / "note.md.tmp")),
        (Change.modified, str(root / ".trash" / "old.md")),
    }
    changes = note_changes(sorted(batch, key=lambda e: (e[1], e[0].value)), root)
    assert [c.source for c in changes] == ["note.md"]


def _wait_for(predicate, timeout: float = 90.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.slow
def test_watcher_reingests_new_renamed_and_deleted_notes(settings: Settings) -> None:
    ingest(settings)
    before = read_manifest(settings.index_dir)
    watcher = Watcher(settings)
    watcher.start()
    try:
        time.sleep(1.0)  # let the watcher subscribe
        # an editor that saves by writing a temp file and renaming it over the note
        tmp = settings.corpus_dir / ".watched.md.swp"
        tmp.write_text("# 观测笔记\n\n水獭每天大约睡十一个小时。", encoding="utf-8")
        os.replace(tmp, settings.corpus_dir / "watched.md")
        assert _wait_for(lambda: any("watched.md" in line and "1 added" in line for line in watcher.lines)), \
            watcher.lines
        assert "watched.md" in read_manifest(settings.index_dir).files

        (settings.corpus_dir / "watched.md").unlink()
        assert _wait_for(lambda: any("1 removed" in line for line in watcher.lines)), watcher.lines
        after = read_manifest(settings.index_dir)
        assert set(after.files) == set(before.files)
        assert after.chunk_count == before.chunk_count
    finally:
        watcher.stop()
    assert not watcher.running
