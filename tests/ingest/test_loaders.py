"""Notes are found recursively, decoded from UTF-8/BOM/GB18030/UTF-16, and bad files are skipped with a reason."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.loaders import decode, load_notes

ZH = "大语言模型在近年来呈井喷式发展。涌现能力是指模型规模超过临界值后效果马上提升。"


def test_encodings_are_detected(tmp_path: Path) -> None:
    (tmp_path / "utf8.md").write_bytes(ZH.encode("utf-8"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + ZH.encode("utf-8"))
    (tmp_path / "gbk.txt").write_bytes(ZH.encode("gbk"))
    (tmp_path / "u16.txt").write_bytes(ZH.encode("utf-16"))
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000_000)
    assert not skipped
    assert {n.source: n.text for n in notes} == {s: ZH for s in ("bom.txt", "gbk.txt", "u16.txt", "utf8.md")}
    assert {n.source: n.encoding for n in notes}["gbk.txt"] == "gb18030"


def test_binary_empty_and_huge_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# 标题\n\n正文。", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "empty.md").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "big.txt").write_bytes(b"a" * 20_000)
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000)
    assert [n.source for n in notes] == ["good.md"]
    reasons = {s.source: s.reason for s in skipped}
    assert "binary" in reasons["binary.txt"]
    assert reasons["empty.md"] == "empty"
    assert "larger than" in reasons["big.txt"]


def test_recursive_other_types_and_hidden_folders_ignored(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.markdown").write_text("深层笔记。", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG....")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("not a note", encoding="utf-8")
    notes, _ = load_notes([tmp_path], tmp_path, 10_000)
    assert [n.source for n in notes] == ["a/b/deep.markdown"]


def test_symlink_outside_the_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("secret", encoding="utf-8")
    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    (notes_dir / "ok.md").write_text("笔记。", encoding="utf-8")
    os.symlink(outside, notes_dir / "link.md")
    notes, _ = load_notes([notes_dir], notes_dir, 10_000)
    assert [n.source for n in notes] == ["ok.md"]


def test_crlf_is_normalised_and_decode_rejects_garbage() -> None:
    assert decode("一\r\n二".encode()) == ("一\r\n二", "utf-8")
    assert decode(b"\x00\x01\x02\x03" * 100) is None


def test_vault_app_folders_attachments_and_images_are_left_out(tmp_path: Path) -> None:
    for folder in (".obsidian", ".trash", "node_modules/pkg", "attachments", "assets/notes", "projects/assets"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "index.md").write_text("# 首页\n\n见 [[项目]]。", encoding="utf-8")
    (tmp_path / ".obsidian" / "workspace.md").write_text("app state", encoding="utf-8")
    (tmp_path / ".trash" / "old.md").write_text("deleted", encoding="utf-8")
    (tmp_path / "node_modules" / "pkg" / "README.md").write_text("a package", encoding="utf-8")
    (tmp_path / "attachments" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "attachments" / "paper.pdf").write_bytes(b"%PDF-1.4 attached")
    (tmp_path / "assets" / "notes" / "kept.md").write_text("Notes in an assets folder are notes.", encoding="utf-8")
    (tmp_path / "projects" / "assets" / "diagram.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "projects" / "plan.txt").write_text("计划。", encoding="utf-8")
    (tmp_path / "projects" / "~$plan.docx").write_bytes(b"word lock file")
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000)
    assert [n.source for n in notes] == ["assets/notes/kept.md", "index.md", "projects/plan.txt"]
    assert [(s.source, "attachment" in s.reason) for s in skipped] == [("attachments/", True)]


def test_known_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntags: [x]\n---\nA.", encoding="utf-8")
    (tmp_path / "b.md").write_text("B.", encoding="utf-8")
    first, _ = load_notes([tmp_path], tmp_path, 10_000)
    known = {n.source: n.sha256 for n in first}
    (tmp_path / "b.md").write_text("B, edited.", encoding="utf-8")
    again, _ = load_notes([tmp_path], tmp_path, 10_000, known=known)
    by_source = {n.source: n for n in again}
    assert by_source["a.md"].document is None and by_source["a.md"].sha256 == known["a.md"]
    assert by_source["b.md"].text == "B, edited."
    assert first[0].meta.tags == ("x",) and first[0].text == "A."
