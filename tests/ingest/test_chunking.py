"""The chunker keeps offsets exact, covers every character, and respects headings, tables and sentences."""

from __future__ import annotations

import itertools
import re

import pytest

from ingest.chunking import Chunker, TableSpan, table_cells, table_spans
from notesqa.settings import Settings
from tests.conftest import CORPUS

FILES = sorted(CORPUS.glob("*.txt"))


@pytest.fixture(scope="module")
def chunker(count_tokens) -> Chunker:  # type: ignore[no-untyped-def]
    """The chunker an ingest with the default settings uses."""
    return Chunker.from_settings(count_tokens, Settings())


def test_the_chunk_sizes_come_from_the_settings(count_tokens) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(chunk_target_tokens=100, chunk_max_tokens=200, chunk_overlap_sentences=0)
    chunker = Chunker.from_settings(count_tokens, settings)
    assert (chunker.target, chunker.max, chunker.overlap) == (100, 200, 0)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_offsets_reproduce_every_chunk_and_cover_every_character(chunker: Chunker, path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text(encoding="utf-8")
    chunks = chunker.split(text, path.name)
    assert chunks
    covered = bytearray(len(text))
    for c in chunks:
        assert text[c.start : c.end] == c.text
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"uncovered text: {text[missing[0] : missing[0] + 40]!r}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_chunks_fit_the_embedding_model(chunker: Chunker, count_tokens, path) -> None:  # type: ignore[no-untyped-def]
    chunks = chunker.split(path.read_text(encoding="utf-8"), path.name)
    sizes = count_tokens(["passage: " + c.embed_text for c in chunks])
    assert max(sizes) + 2 <= 512
    assert len({c.id for c in chunks}) == len(chunks)


def test_chunks_end_at_sentence_or_line_ends(chunker: Chunker) -> None:
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for c in chunker.split(text, path.name):
            after = text[c.end : c.end + 1]
            assert after in ("", "\n") or c.text[-1] in '。！？；!?.)）”"' or after.isspace(), (
                path.name,
                c.text[-30:],
                after,
            )


def test_space_separated_table_stays_whole_with_its_caption(chunker: Chunker) -> None:
    path = CORPUS / "000_330fc9d37bdba89e.txt"
    text = path.read_text(encoding="utf-8")
    chunks = chunker.split(text, path.name)
    holder = [c for c in chunks if "2023.3 OpenAI GPT-4 1760B 8, 32" in c.text]
    assert len(holder) == 1
    body = holder[0].text
    assert "发布时间 单位 产品 参数量 上下文KB 定位" in body
    assert "全球常见的大模型和大模型产品举例如下" in body
    assert "2024.3 Anthropic Claude3" in body


def test_chunks_store_their_tables(chunker: Chunker) -> None:
    path = CORPUS / "000_330fc9d37bdba89e.txt"
    chunks = chunker.split(path.read_text(encoding="utf-8"), path.name)
    assert all(c.tables == table_spans(c.text) for c in chunks)
    holder = next(c for c in chunks if "2023.3 OpenAI GPT-4 1760B 8, 32" in c.text)
    (table,) = holder.tables
    assert table.header == "发布时间 单位 产品 参数量 上下文KB 定位"
    assert holder.text[table.start : table.end].startswith(table.header)
    assert "2024.3 Anthropic Claude3" in holder.text[table.start : table.end]


def test_pipe_and_space_separated_tables_are_found() -> None:
    text = "前言。\n\n| 名称 | 参数量 |\n|---|---|\n| GPT-3 | 175B |\n\n发布时间 产品 参数量\n2020.6 GPT-3 175B\n"
    pipe, spaced = table_spans(text)
    assert pipe == TableSpan(5, text.index("\n\n发布"), "| 名称 | 参数量 |")
    assert spaced.header == "发布时间 产品 参数量" and text[spaced.start : spaced.end].endswith("175B")


def test_running_text_under_a_short_line_is_no_table() -> None:
    prose = ("Budget review\nThe approved budget for Project Heron is 42,000 euros for the first year.\n"
             "Most of it pays for annotation of the letters by two students.")
    assert table_spans(prose) == ()
    cells = "发展方向 特征 简述\nBERT Encoder Only 自编码,适合做理解任务\nT5 Encoder-Decoder 综合了上述两点的优势"
    assert [t.header for t in table_spans(cells)] == ["发展方向 特征 简述"]
    assert table_spans(cells)[0].end == len(cells)


def test_table_cells_keep_lists_and_ranges_together() -> None:
    assert table_cells("2022.2 Google LamDA 2B, 8B, 137B 未开源模型") == [
        "2022.2",
        "Google",
        "LamDA",
        "2B, 8B, 137B",
        "未开源模型",
    ]
    assert table_cells("| GPT-3 | 125M ~ 175B |") == ["GPT-3", "125M ~ 175B"]


def test_long_table_is_split_by_rows_repeating_the_header(count_tokens) -> None:  # type: ignore[no-untyped-def]
    rows = "\n".join(f"| model-{i} | {i}B | 用于第 {i} 类任务的聊天机器人 |" for i in range(80))
    text = "# 模型清单\n\n| 名称 | 参数量 | 定位 |\n|---|---|---|\n" + rows + "\n"
    chunks = Chunker(count_tokens, target=120, max_tokens=200, overlap=1).split(text, "t.md")
    table_chunks = [c for c in chunks if "model-" in c.text]
    assert len(table_chunks) > 2
    for c in table_chunks[1:]:
        assert "| 名称 | 参数量 | 定位 |" in c.context
        assert c.headings == ("模型清单",)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_heading_paths_for_numbered_and_markdown_headings(chunker: Chunker) -> None:
    text = (CORPUS / "001_f68183d21df79685.txt").read_text(encoding="utf-8")
    kosmos = [c for c in chunker.split(text, "001") if "数据和模型规模:1.3 B 的参数" in c.text]
    assert kosmos and kosmos[0].headings[-1] == "4.6.2 Kosmos-1"
    assert kosmos[0].headings[0] == "4 主流大模型"
    md = (CORPUS / "004_f8b6cfda9aefe373.txt").read_text(encoding="utf-8")
    chunks = chunker.split(md, "004")
    assert chunks[0].title == "什么是大语言模型 (LLM)？"
    assert any(c.headings[-1:] == ("指令调优",) for c in chunks)
    assert all(c.context.startswith(c.title) for c in chunks)


def test_fenced_code_block_is_never_split(count_tokens) -> None:  # type: ignore[no-untyped-def]
    code = "```python\n" + "\n".join(f"x{i} = {i}  # 第{i}行。" for i in range(12)) + "\n```"
    text = "## 代码\n\n前面的说明文字。\n\n" + code + "\n\n后面的说明。"
    chunks = Chunker(count_tokens, target=20, max_tokens=300, overlap=1).split(text, "c.md")
    holder = [c for c in chunks if "x0 = 0" in c.text]
    assert len(holder) == 1 and code in holder[0].text


def test_prose_is_split_at_sentence_ends_with_overlap(count_tokens) -> None:  # type: ignore[no-untyped-def]
    sentences = [f"这是第{i}句话，讲的是模型的第{i}个特点。" for i in range(40)]
    text = "".join(sentences)
    chunks = Chunker(count_tokens, target=60, max_tokens=120, overlap=1).split(text, "p.txt")
    assert len(chunks) > 3
    for c in chunks:
        assert c.text.endswith("。")
    for a, b in itertools.pairwise(chunks):
        last = re.findall(r"这是第\d+句话[^。]*。", a.text)[-1]
        assert b.text.startswith(last)  # one whole sentence of overlap


def test_single_overlong_sentence_is_hard_split(count_tokens) -> None:  # type: ignore[no-untyped-def]
    text = "很长" * 2000
    chunks = Chunker(count_tokens, target=100, max_tokens=150, overlap=1).split(text, "long.txt")
    assert len(chunks) > 5
    assert "".join(c.text for c in chunks) == text
    assert max(count_tokens([c.text for c in chunks])) <= 150


def test_a_line_of_only_digits_and_symbols_is_not_a_heading(chunker: Chunker) -> None:
    text = "2.1 模型\n\nTransformer 由 Encoder 和 Decoder 组成。\n\n|500\n\nEncoder 把输入映射到高维空间。\n"
    chunks = chunker.split(text, "n")
    assert all("|500" not in c.headings for c in chunks)
    assert chunks[-1].headings[-1] == "2.1 模型"
