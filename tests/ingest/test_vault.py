"""Markdown vault conventions: front matter is metadata (not text), tags and links are recorded, links and
images read as titles and alt text, code and LaTeX stay verbatim, and chunk offsets index the shown text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.loaders import load_notes, shown_text
from ingest.vault import read_markdown, split_front_matter

NOTE = """---
title: 注意力机制笔记
tags: [ml, "#attention"]
aliases: Attention, 注意力
created: 2024-03-05
updated: 2024-04-01T10:30:00
---
# Attention

Self-attention relates positions of one sequence, see [[Transformers]] and [[papers/Vaswani 2017|the paper]].
注意力机制让模型关注输入的不同部分 #深度学习 and #ml/nlp, but #2024 is a year, not a tag.

![[diagram.png|400]]

![Scaled dot-product attention](img/sdp.png)

![[Softmax#Numerical stability]]

## Formula

The score is $\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$ and `[[not a link]]` is code.

```python
# [[inside code]] #nottag
scores = q @ k.T
```

$$
\\text{[[math]]} = \\sum_i x_i
$$
"""


def test_front_matter_is_metadata_and_not_text() -> None:
    doc = read_markdown(NOTE, "utf-8")
    assert "title:" not in doc.text and "2024-03-05" not in doc.text and not doc.text.startswith("---")
    assert doc.text.startswith("# Attention\n")
    assert doc.meta.title == "注意力机制笔记"
    assert doc.meta.aliases == ("Attention", "注意力")
    assert doc.meta.dates == {"created": "2024-03-05", "updated": "2024-04-01T10:30:00"}


def test_tags_links_and_embeds_are_recorded() -> None:
    meta = read_markdown(NOTE).meta
    assert meta.tags == ("ml", "attention", "深度学习", "ml/nlp")
    assert meta.links == ("Transformers", "papers/Vaswani 2017", "Softmax")  # images are not links


def test_links_read_as_titles_and_aliases_images_as_alt_text() -> None:
    text = read_markdown(NOTE).text
    assert "see Transformers and the paper." in text
    assert "\nSoftmax > Numerical stability\n" in text
    assert "\nScaled dot-product attention\n" in text
    assert "[[" not in text.split("## Formula")[0] and "png" not in text and "400" not in text
    assert "#深度学习" in text  # inline tags stay in the text


def test_code_and_latex_are_kept_verbatim() -> None:
    text = read_markdown(NOTE).text
    assert "$\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$" in text
    assert "`[[not a link]]`" in text
    assert "```python\n# [[inside code]] #nottag\nscores = q @ k.T\n```" in text
    assert "$$\n\\text{[[math]]} = \\sum_i x_i\n$$" in text
    assert "nottag" not in read_markdown(NOTE).meta.tags


def test_a_line_that_was_only_an_image_or_embed_is_not_a_heading(count_tokens) -> None:  # type: ignore[no-untyped-def]
    text = "Intro sentence here.\n\n![[Other note]]\n\nThe body that follows explains the idea at length.\n"
    doc = read_markdown(text)
    assert doc.text == "Intro sentence here.\n\nOther note\n\nThe body that follows explains the idea at length.\n"
    plain = Chunker(count_tokens, target=8, max_tokens=40, overlap=1).split(doc.text, "n.md")
    assert any("Other note" in c.headings for c in plain)  # the shape-only rule alone would take it for one
    from ingest.chunking import Outline

    placed = Chunker(count_tokens, target=8, max_tokens=40, overlap=1).split(
        doc.text, "n.md", Outline(link_lines=doc.link_lines)
    )
    assert all("Other note" not in c.headings for c in placed)


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ('tags: "a, b #c"\n', ("a", "b", "c")),
        ("tags: a, b #c\n", ("a", "b")),  # in YAML, " #" starts a comment
        ("tags:\n  - x\n  - 2024\n", ("x", "2024")),
        ("tag: solo\n", ("solo",)),
        ("tags:\n", ()),
    ],
)
def test_front_matter_tag_spellings(front: str, expected: tuple[str, ...]) -> None:
    meta, body = split_front_matter(f"---\n{front}---\nbody\n")
    assert tuple(meta.get("tags", ())) == expected and body == "body\n"


def test_bad_yaml_is_left_out_and_a_rule_is_not_front_matter() -> None:
    meta, body = split_front_matter("---\ntitle: [unclosed\n---\nbody\n")
    assert meta == {} and body == "body\n"
    text = "Text first.\n\n---\n\nmore\n"
    assert split_front_matter(text) == ({}, text)


def test_vault_chunks_have_folder_title_path_and_exact_offsets(tmp_path: Path, count_tokens) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "ml" / "nlp").mkdir(parents=True)
    (tmp_path / "ml" / "nlp" / "attention.md").write_text(NOTE, encoding="utf-8")
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000_000)
    assert not skipped
    [note] = notes
    chunks = Chunker(count_tokens, target=40, max_tokens=200, overlap=1).split(note.text, note.source, note.outline())
    assert chunks
    shown = shown_text(note.path)
    assert shown == note.text
    for c in chunks:
        assert shown[c.start : c.end] == c.text  # offsets point into the text the UI shows
        assert c.headings[:3] == ("ml", "nlp", "注意力机制笔记")
        assert c.context.startswith("ml > nlp > 注意力机制笔记")
        assert c.title == "注意力机制笔记"
    formula = next(c for c in chunks if "softmax" in c.text)
    assert formula.headings == ("ml", "nlp", "注意力机制笔记", "Attention", "Formula")
    assert all("2024-03-05" not in c.embed_text for c in chunks)


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        ("完成。#待办 and #ok", ("待办", "ok")),
        ("C# and page#anchor and (#paren) hold none", ()),
        ("#2024 #v2 ##x", ("v2",)),
    ],
)
def test_inline_tags(line: str, tags: tuple[str, ...]) -> None:
    assert read_markdown(line).meta.tags == tags


def test_chunks_say_which_lines_of_the_file_they_are(tmp_path: Path, count_tokens) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "attention.md").write_text(NOTE, encoding="utf-8")
    (tmp_path / "plain.txt").write_text("first line\n\nsecond paragraph\nstill it\n", encoding="utf-8")
    notes, _ = load_notes([tmp_path], tmp_path, 10_000_000)
    chunker = Chunker(count_tokens, target=40, max_tokens=200, overlap=1)
    file_lines = NOTE.split("\n")
    assert {n.source for n in notes} == {"attention.md", "plain.txt"}
    for note in notes:
        raw = (tmp_path / note.source).read_text(encoding="utf-8").split("\n")
        for c in chunker.split(note.text, note.source, note.outline()):
            first, last = c.lines
            assert 1 <= first <= last <= len(raw)
            # the chunk's first and last lines are those lines of the file (where no link was rendered)
            shown = c.text.split("\n")
            assert last - first == c.text.count("\n")
            for line, text in ((raw[first - 1], shown[0]), (raw[last - 1], shown[-1])):
                if "[" not in line:
                    assert text in line
            if note.source == "attention.md":
                assert first > 7  # after the front matter
    formula_line = next(i for i, line in enumerate(file_lines, 1) if "softmax" in line)
    note = next(n for n in notes if n.source == "attention.md")
    chunk = next(c for c in chunker.split(note.text, note.source, note.outline()) if "softmax" in c.text)
    start = chunk.text.index("softmax")
    assert chunk.lines_of(start, start + 7) == (formula_line, formula_line)


def test_an_obsidian_vault_gets_links_that_open_the_note(tmp_path: Path) -> None:
    from ingest.vault import obsidian_link

    vault = tmp_path / "My Vault"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / "papers").mkdir()
    assert obsidian_link(vault / "papers", "RAG 笔记.md") == (
        "obsidian://open?vault=My%20Vault&file=papers%2FRAG%20%E7%AC%94%E8%AE%B0")
    assert obsidian_link(vault, "scan.pdf") == "obsidian://open?vault=My%20Vault&file=scan.pdf"
    assert obsidian_link(tmp_path / "elsewhere", "a.md") == ""
