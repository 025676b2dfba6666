"""Notes management used by the UI: safe upload names, limits, recoverable removal."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import NotesError
from ingest.notes import TRASH, add_note, list_notes, retire_note, safe_name
from notesqa.settings import Settings


@pytest.mark.parametrize(("given", "expected"), [
    ("../../x.md", "x.md"), ("a/b/笔记 1.txt", "笔记 1.txt"), ("..\\..\\evil.markdown", "evil.markdown"),
    ("we<ird>na|me.md", "we_ird_na_me.md"), (".hidden.md", "hidden.md"),
])
def test_upload_names_cannot_escape_the_folder(given: str, expected: str) -> None:
    assert safe_name(given) == expected


@pytest.mark.parametrize("bad", ["notes.pdf", "script.py", "", "../"])
def test_other_types_and_hidden_names_are_refused(bad: str) -> None:
    with pytest.raises(NotesError):
        safe_name(bad)


def test_add_never_overwrites_and_checks_content(tmp_path: Path) -> None:
    s = Settings(corpus_dir=tmp_path / "notes", index_dir=tmp_path / "index", max_upload_mb=0.001)
    first = add_note(s, "a.md", "第一份".encode())
    second = add_note(s, "a.md", "第二份".encode())
    assert first.name == "a.md" and second.name == "a (1).md"
    assert first.read_text(encoding="utf-8") == "第一份"
    with pytest.raises(NotesError, match="not a text file"):
        add_note(s, "b.txt", bytes(range(256)))
    with pytest.raises(NotesError, match="upload limit"):
        add_note(s, "c.txt", b"x" * 5_000)


def test_retire_moves_the_note_to_trash(tmp_path: Path) -> None:
    s = Settings(corpus_dir=tmp_path / "notes", index_dir=tmp_path / "index")
    add_note(s, "keep.md", "保留。".encode())
    add_note(s, "drop.md", "删除。".encode())
    moved = retire_note(s, "drop.md")
    assert moved.parent.name == TRASH and moved.read_text(encoding="utf-8") == "删除。"
    assert [n.source for n in list_notes(s)] == ["keep.md"]
    with pytest.raises(NotesError):
        retire_note(s, "../outside.md")
