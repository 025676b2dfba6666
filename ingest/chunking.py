"""Markdown- and Chinese-aware splitter: blocks (headings, tables, lists, code, prose) -> sized chunks."""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notesqa.settings import Settings

from notesqa.text import SENTENCE_END, split_sentences, strip_span

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts embedding-model tokens for a batch of texts (no special tokens)."""

CLAUSE_PUNCT = re.compile(r"[。，,；;！？!?：:、]")
MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*?)[ \t#]*$")
TABLE_ROW_SLACK = 2
"""A row of a space-separated table has at most twice its header's gaps plus this many: cells may hold spaces
("T5 Encoder-Decoder 综合了…", "LowRank Adaptation …" under a two- or three-column header), but a line of
running text under a two-word line ("Budget review" / "The approved budget for … is …") is no row. Chosen from
the tables of both public corpora: every one keeps its rows."""
NUM_HEADING = re.compile(r"^(\d+(?:\.\d+){0,4})[ \t]+(\S.{0,40})$")
FENCE = re.compile(r"^[ \t]*(```|~~~)")
LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+][ \t]+|[•·▪●◦][ \t]*|\d{1,3}[.)][ \t]+|\d{1,3}、|[(（]\d{1,3}[)）])\S")
PIPE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
ALIGNMENT_ROW = re.compile(r"^\s*\|?(\s*:?-{2,}:?\s*\|)*\s*:?-{2,}:?\s*\|?\s*$")
"""A markdown table's alignment row ("|---|:--:|"): it holds no content."""
PLAIN_HEADING_LEVEL = 7
"""Level given to headings recognised only by their shape (below every numbered/markdown level)."""
IMAGE_LINE = re.compile(r"^[ \t]*!?\[.*\]\(.*\)[ \t]*$")
LETTER = re.compile(r"[^\W\d_]")
"""A letter of any script (a heading names something)."""
PAGE_LABEL = re.compile(r"^pp?\. \d+(?:–\d+)?$")
"""A page in a heading path ("p. 3", "pp. 3–4"; :meth:`Outline.page_label`): it says where, not what about."""


CHUNKER_VERSION = 5
"""Bump when chunking changes in a way that must invalidate existing indexes (2: heading paths start with the
note's folders and title; markdown is read with front matter and wikilinks rendered; 3: chunks store their
tables; 4: and the lines of their note's file; 5: running text under a two-word line is not a table)."""


@dataclass(frozen=True)
class TableSpan:
    """A table in a text: ``text[start:end]``, pipe rows or space-separated rows, the first row its header."""

    start: int
    end: int
    header: str
    """The header row, stripped."""


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: ``text`` is exactly ``note_text[start:end]``."""

    id: str
    source: str
    title: str
    headings: tuple[str, ...]
    """The headings above the passage; for a note ingested from a folder, led by its folders, title and page
    (see :class:`Outline`)."""
    start: int
    end: int
    text: str
    context: str = ""
    """Heading path (and a split table's header row) prefixed to ``text`` for embedding and prompts."""
    position: int = 0
    """Index of the chunk within its note (neighbours are position +- 1)."""
    tables: tuple[TableSpan, ...] = ()
    """The tables in ``text`` (offsets into ``text``): ``table_spans(text)``, found once when the note is
    chunked and stored in the index, so that questions do not parse them again."""
    lines: tuple[int, ...] = ()
    """``(first, last)``: the lines of the note's file the passage spans (1-based, inclusive), for citations
    that point at the place; empty when the note's text is not its file's lines (PDF, Word, HTML)."""

    def lines_of(self, start: int, end: int) -> tuple[int, ...]:
        """The file lines of ``text[start:end]`` (offsets into ``text``); empty when the chunk has none."""
        if not self.lines:
            return ()
        first = self.lines[0] + self.text.count("\n", 0, start)
        return first, first + self.text.count("\n", start, max(start, end - 1))

    @property
    def nearest_heading(self) -> str:
        """The innermost heading of the passage that names a section (a page label does not), else the title."""
        return next((h for h in reversed(self.headings) if not PAGE_LABEL.match(h)), self.title)

    @property
    def embed_text(self) -> str:
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True)
class Outline:
    """Where a note stands, besides the headings inside its text: what its chunks' heading paths start with.

    Without an outline a chunk's ``headings`` are the headings above it in the text; with one they are
    ``(*folders, title, page, *headings)`` (the title once, the page only for paged documents), so a citation
    reads "folder › title › p. 3 › heading". The embedding context is the same path without the page.
    """

    folders: tuple[str, ...] = ()
    """The note's folder path inside the notes folder (``("projects", "ml")`` for ``projects/ml/x.md``)."""
    title: str = ""
    """The note's own title (front matter, document properties); empty: taken from the text (:func:`document_title`)."""
    pages: tuple[int, ...] = ()
    """Offset in the text where each page starts (page 1 first); empty for notes without pages."""
    link_lines: frozenset[int] = frozenset()
    """Start offsets of lines that only hold rendered links, embeds or images: never a heading or the title."""
    first_line: int = 0
    """The file's line number of the text's first line (:attr:`ingest.documents.Document.first_line`); 0: the
    text is not the file's lines, and chunks carry no line range."""

    def page_label(self, start: int, end: int) -> str:
        """``"p. 3"`` for a passage on page 3, ``"pp. 3–4"`` across pages; empty without pages."""
        if not self.pages:
            return ""
        first = max(1, bisect.bisect_right(self.pages, start))
        last = max(first, bisect.bisect_right(self.pages, max(start, end - 1)))
        return f"p. {first}" if first == last else f"pp. {first}–{last}"


@dataclass
class _Unit:
    start: int
    end: int
    kind: str  # heading | para | list | table | code
    block: int
    headings: tuple[str, ...]
    tokens: int = 0
    header: str = ""  # a table's header row, repeated when the table is split
    caption: bool = False  # a one-line paragraph directly before a table


@dataclass
class _Block:
    kind: str
    start: int
    end: int
    lines: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each line, no newline
    level: int = 0
    heading: str = ""


def _lines(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _gaps(line: str) -> int:
    return len(re.findall(r"\S\s+(?=\S)", line.strip()))


def _is_table_row(line: str, header_gaps: int) -> bool:
    """Whether ``line`` can be a row under a space-separated header with ``header_gaps`` gaps: as many cells
    or more (a cell may hold a space, "Encoder Only"), but not a sentence's worth of words."""
    gaps = _gaps(line)
    return header_gaps <= gaps <= 2 * header_gaps + TABLE_ROW_SLACK and not LIST_ITEM.match(line)


def _is_table_header(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= 60 and _gaps(s) >= 1 and not CLAUSE_PUNCT.search(s) and not LIST_ITEM.match(s)


def _parse_blocks(text: str, link_lines: Container[int] = frozenset()) -> list[_Block]:
    lines = _lines(text)
    seg = [text[a:b] for a, b in lines]
    blocks: list[_Block] = []
    i, n = 0, len(lines)
    while i < n:
        line = seg[i]
        if not line.strip():
            i += 1
            continue
        a = lines[i][0]
        if FENCE.match(line):
            fence = FENCE.match(line).group(1)
            j = i + 1
            while j < n and not seg[j].strip().startswith(fence):
                j += 1
            j = min(j, n - 1)
            blocks.append(_Block("code", a, lines[j][1], lines[i : j + 1]))
            i = j + 1
            continue
        m = MD_HEADING.match(line)
        if m:
            blocks.append(_Block("heading", a, lines[i][1], [lines[i]], len(m.group(1)), m.group(2).strip()))
            i += 1
            continue
        if PIPE_ROW.match(line) and i + 1 < n and PIPE_ROW.match(seg[i + 1]):
            j = i
            while j + 1 < n and PIPE_ROW.match(seg[j + 1]):
                j += 1
            blocks.append(_Block("table", a, lines[j][1], lines[i : j + 1]))
            i = j + 1
            continue
        if _is_table_header(line) and i + 1 < n and seg[i + 1].strip():
            k = _gaps(line)
            j = i
            while j + 1 < n and seg[j + 1].strip() and _is_table_row(seg[j + 1], k):
                j += 1
            if j > i:
                blocks.append(_Block("table", a, lines[j][1], lines[i : j + 1]))
                i = j + 1
                continue
        m = NUM_HEADING.match(line.strip())
        if m and not CLAUSE_PUNCT.search(m.group(2)) and (i + 1 >= n or not seg[i + 1].strip()):
            level = m.group(1).count(".") + 1
            blocks.append(_Block("heading", a, lines[i][1], [lines[i]], level, line.strip()))
            i += 1
            continue
        if LIST_ITEM.match(line):
            j = i
            while j + 1 < n:
                nxt = seg[j + 1]
                if LIST_ITEM.match(nxt) or (nxt.strip() and nxt[:1] in " \t" and not FENCE.match(nxt)):
                    j += 1
                elif not nxt.strip() and j + 2 < n and LIST_ITEM.match(seg[j + 2]):
                    j += 2
                else:
                    break
            blocks.append(_Block("list", a, lines[j][1], lines[i : j + 1]))
            i = j + 1
            continue
        if a not in link_lines and _is_plain_heading(seg, i):
            blocks.append(_Block("heading", a, lines[i][1], [lines[i]], PLAIN_HEADING_LEVEL, line.strip()))
            i += 1
            continue
        j = i
        while j + 1 < n and seg[j + 1].strip() and not _starts_block(seg, j + 1):
            j += 1
        blocks.append(_Block("para", a, lines[j][1], lines[i : j + 1]))
        i = j + 1
    return blocks


def _is_plain_heading(seg: list[str], i: int) -> bool:
    """A short stand-alone line without punctuation between blank lines, as .txt exports write headings."""
    s = seg[i].strip()
    alone = (i == 0 or not seg[i - 1].strip()) and (i + 1 < len(seg) and not seg[i + 1].strip())
    later = any(x.strip() for x in seg[i + 1 :])
    return (
        alone
        and later
        and 0 < len(s) <= 40
        and not CLAUSE_PUNCT.search(s)
        and s[-1] not in SENTENCE_END + "."
        and not IMAGE_LINE.match(s)
        and bool(LETTER.search(s))  # "|500", "2023": width hints and stray numbers name no section
    )


def _starts_block(seg: list[str], i: int) -> bool:
    line = seg[i]
    return bool(
        FENCE.match(line)
        or MD_HEADING.match(line)
        or LIST_ITEM.match(line)
        or (PIPE_ROW.match(line) and i + 1 < len(seg) and PIPE_ROW.match(seg[i + 1]))
    )


def table_spans(text: str) -> tuple[TableSpan, ...]:
    """Every table in ``text`` (pipe or space-separated rows), as the chunker's block parser finds them."""
    return tuple(
        TableSpan(b.start, b.end, text[b.lines[0][0] : b.lines[0][1]].strip())
        for b in _parse_blocks(text)
        if b.kind == "table"
    )


def table_cells(row: str) -> list[str]:
    """Cells of a pipe row, or of a space-separated row ("2B, 8B, 137B" and "125M ~ 175B" stay one cell)."""
    row = row.strip()
    if "|" in row:
        return [c.strip() for c in row.strip("|").split("|")]
    cells: list[str] = []
    for token in row.split():
        if cells and (cells[-1][-1] in ",，、~-" or token[0] in ",，、~"):
            cells[-1] += " " + token
        else:
            cells.append(token)
    return cells


def code_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every fenced code block in ``text``, as the chunker sees them."""
    return [(b.start, b.end) for b in _parse_blocks(text) if b.kind == "code"]


def document_title(text: str, blocks: list[_Block] | None = None, link_lines: Container[int] = frozenset()) -> str:
    """The note's title: its top-level markdown heading, else its first meaningful line (not a link or image)."""
    blocks = _parse_blocks(text, link_lines) if blocks is None else blocks
    md = [b for b in blocks if b.kind == "heading" and MD_HEADING.match(text[b.start : b.end])]
    if md:
        top = min(b.level for b in md)
        return next(b.heading for b in md if b.level == top)[:80]
    for a, b in _lines(text):
        line = text[a:b]
        if line.strip() and not IMAGE_LINE.match(line) and a not in link_lines:
            return line.strip()[:80]
    return ""


class Chunker:
    """Splits one note into chunks of about ``target`` tokens (never more than ``max_tokens``), repeating
    ``overlap`` sentences of a split block at the start of the next chunk.

    The sizes are settings (``chunk_target_tokens``, ``chunk_max_tokens``, ``chunk_overlap_sentences``), so they
    have no defaults here: :meth:`from_settings` takes them from there.
    """

    def __init__(self, count_tokens: TokenCounter, target: int, max_tokens: int, overlap: int):
        self.count = count_tokens
        self.target = target
        self.max = max_tokens
        self.overlap = overlap

    @classmethod
    def from_settings(cls, count_tokens: TokenCounter, settings: Settings) -> Chunker:
        """The chunker ``settings`` ask for (the sizes are part of the index signature)."""
        return cls(
            count_tokens, settings.chunk_target_tokens, settings.chunk_max_tokens, settings.chunk_overlap_sentences
        )

    # --- units -----------------------------------------------------------------------------
    def _units(self, text: str, blocks: list[_Block]) -> list[_Unit]:
        units: list[_Unit] = []
        path: list[tuple[int, str]] = []
        for bi, block in enumerate(blocks):
            if block.kind == "heading":
                path = [(lvl, h) for lvl, h in path if lvl < block.level] + [(block.level, block.heading)]
            headings = tuple(h for _, h in path)
            if block.kind == "heading":
                units.append(_Unit(block.start, block.end, "heading", bi, headings))
            elif block.kind == "para":
                for a, b in split_sentences(text, block.start, block.end):
                    units.append(_Unit(a, b, "para", bi, headings))
            elif block.kind == "list":
                items: list[tuple[int, int]] = []
                for a, b in block.lines:
                    if LIST_ITEM.match(text[a:b]) or not items:
                        items.append((a, b))
                    elif text[a:b].strip():
                        items[-1] = (items[-1][0], b)
                for a, b in items:
                    span = strip_span(text, a, b)
                    if span:
                        units.append(_Unit(span[0], span[1], "list", bi, headings))
            else:  # table or code: one unit per line, kept together when it fits
                header = text[block.lines[0][0] : block.lines[0][1]].strip() if block.kind == "table" else ""
                for a, b in block.lines:
                    span = strip_span(text, a, b)
                    if span:
                        units.append(_Unit(span[0], span[1], block.kind, bi, headings, header=header))
        counts = self.count([text[u.start : u.end] for u in units]) if units else []
        out: list[_Unit] = []
        for unit, tokens in zip(units, counts, strict=True):
            unit.tokens = tokens
            out.extend(self._split_long(text, unit) if tokens > self.max else [unit])
        for k in range(1, len(out)):  # a one-line paragraph right before a table is its caption
            prev, cur = out[k - 1], out[k]
            if (
                cur.kind == "table"
                and prev.kind == "para"
                and prev.block == cur.block - 1
                and (k < 2 or out[k - 2].block != prev.block)
            ):
                prev.caption = True
        return out

    def _split_long(self, text: str, unit: _Unit) -> list[_Unit]:
        """Hard-split one over-long sentence/line at token boundaries (the only mid-sentence cut)."""
        pieces: list[_Unit] = []
        a = unit.start
        while a < unit.end:
            lo, hi = a + 1, unit.end
            while lo < hi:  # largest b with count(text[a:b]) <= max
                mid = (lo + hi + 1) // 2
                if self.count([text[a:mid]])[0] <= self.max:
                    lo = mid
                else:
                    hi = mid - 1
            b = lo
            span = strip_span(text, a, b)
            if span:
                pieces.append(
                    _Unit(
                        span[0],
                        span[1],
                        unit.kind,
                        unit.block,
                        unit.headings,
                        self.count([text[span[0] : span[1]]])[0],
                        unit.header,
                    )
                )
            a = b
        return pieces

    # --- packing ---------------------------------------------------------------------------
    def _pack(self, units: list[_Unit]) -> list[list[_Unit]]:
        groups: list[list[_Unit]] = []
        cur: list[_Unit] = []

        def size(us: list[_Unit]) -> int:
            return sum(u.tokens for u in us) + max(0, len(us) - 1)

        def close(next_unit: _Unit | None) -> list[_Unit]:
            """Emit ``cur``; return the sentences carried over as overlap into the next chunk."""
            if not cur:
                return []
            groups.append(list(cur))
            if next_unit is None or self.overlap <= 0 or next_unit.kind not in {"para", "list"}:
                return []
            carry = [u for u in cur[-self.overlap :] if u.block == next_unit.block and u.kind == next_unit.kind]
            if len(carry) == len(cur) or size([*carry, next_unit]) > self.max:
                return []
            return carry

        i = 0
        while i < len(units):
            u = units[i]
            if u.kind in {"table", "code"}:
                j = i
                while j + 1 < len(units) and units[j + 1].block == u.block:
                    j += 1
                block = units[i : j + 1]
                if size(block) <= self.max:
                    caption = [cur[-1]] if cur and cur[-1].caption else []
                    if size(cur + block) > self.max:
                        if caption:
                            cur.pop()
                        cur = close(None)
                        cur = caption + cur
                    cur.extend(block)
                    if size(cur) >= self.target:
                        cur = close(None)
                else:  # long table/code: split by rows, each piece re-states the header (see context)
                    cur = close(None)
                    for row in block:
                        if cur and size([*cur, row]) > self.target:
                            cur = close(None)
                        cur.append(row)
                    cur = close(None)
                i = j + 1
                continue
            if u.kind == "heading":
                if not all(x.kind == "heading" for x in cur):  # consecutive headings stay together
                    cur = close(None)
                cur.append(u)
            elif cur and (
                (size([*cur, u]) > self.target and not all(x.kind == "heading" for x in cur))
                or size([*cur, u]) > self.max
            ):
                cur = close(u)
                cur.append(u)
            else:
                cur.append(u)
            i += 1
        close(None)
        return groups

    # --- public ----------------------------------------------------------------------------
    def split(self, text: str, source: str, outline: Outline | None = None) -> list[Chunk]:
        """Chunk one decoded note. Offsets index into ``text``; ``outline`` places the note (see :class:`Outline`)."""
        link_lines = outline.link_lines if outline else frozenset()
        blocks = _parse_blocks(text, link_lines)
        title = (outline.title if outline else "") or document_title(text, blocks, link_lines)
        folders = outline.folders if outline else ()
        first_line = outline.first_line if outline else 0
        breaks = [i for i, ch in enumerate(text) if ch == "\n"] if first_line else []
        chunks: list[Chunk] = []
        occurrences: dict[str, int] = {}
        for group in self._pack(self._units(text, blocks)):
            start, end = group[0].start, group[-1].end
            body = text[start:end]
            first = next((u for u in group if u.kind != "heading"), group[0])
            headings = first.headings
            lead = [p for p in (*folders, title) if p]
            inner = [h for h in headings if h and h != title]
            context = " > ".join([*lead, *inner])
            if outline is not None:
                page = outline.page_label(start, end)
                headings = (*lead, *([page] if page else []), *inner)
            if first.kind == "table" and first.header and not body.startswith(first.header):
                context = f"{context}\n{first.header}" if context else first.header
            nth = occurrences[body] = occurrences.get(body, -1) + 1  # identical passages in one note
            digest = hashlib.sha256(f"{source}\x00{nth}\x00{body}".encode()).hexdigest()[:20]
            lines = (first_line + bisect.bisect_left(breaks, start),
                     first_line + bisect.bisect_left(breaks, max(start, end - 1))) if first_line else ()
            chunks.append(Chunk(digest, source, title, headings, start, end, body, context, len(chunks),
                                table_spans(body), lines))
        return chunks
