"""Short prompts: keep only the sentences of the top passages that matter for the question."""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.chunking import ALIGNMENT_ROW, TableSpan
from ingest.embeddings import E5Embeddings
from notesqa.quantity import quantities
from notesqa.text import link_texts, split_sentences, squash, terms
from rag.guard import asks_for_number, injection
from rag.prompts import Passage
from rag.retrieve import Hit

GAP = " … "
WINDOW_UNITS = 2
"""A candidate is one sentence/line or two neighbouring ones (a lone sentence often lacks its subject)."""
WINDOW_MAX_CHARS = 220
"""Longest two-unit window considered (a long pair would crowd out other evidence)."""
LEXICAL_WEIGHT = 0.5
"""Weight of the term overlap (0-1) next to the e5 cosine (about 0.7-0.9 for related text)."""
MARGIN = 0.10
"""Windows scoring this far below the best one are not added to fill the budget (they are noise). At 0.15 the
same evidence reached the prompt (21/24 dev, 21/24 held-out) with ~25 more tokens of filler per question
(prompt p50 744 vs 718 tokens on dev; paired, first token 3.44 vs 2.81 s p50: benchmarks/paired_latency.py)."""
MIN_CHARS = 6
"""Shorter lines outside tables ("图片", "推荐阅读", a lone heading) carry nothing to answer from."""
SENTENCE_BATCH = 4
"""Sentences embedded per call, shortest first: little padding (0.105 s per dev question against 0.154 s
in batches of 16, fp32 ONNX on 2 cores)."""
RANK_BONUS = 0.02
"""Added per rank above the last pooled hit, so retrieval's order breaks near-ties."""
ANSWER_TYPE_BONUS = 0.05
"""Added to a window that holds a number when the question asks for one (``guard.asks_for_number``): prose
that restates the question's setting otherwise outscores the sentence or table row with the figure. Every
value from 0.03 to 0.10 put the same sentences in the prompt on both corpora (``benchmarks/
selection_coverage.py``); 0.05 is inside that range, half of ``MARGIN``."""

_QUESTION_END = re.compile(r"(?<=[?？])\s*")
ITEM_HEAD_MAX_CHARS = 24
"""Longest term an item's head may be ("- MRKL：…", "短期记忆：…"): a longer text before a colon is a clause
("在实验中，对提示语句的毒性进行了分类：…"), not the name of what the item is about."""
_ITEM_HEAD = re.compile(
    rf"^[ \t]*(?:[-*+•·][ \t]+|\d{{1,3}}[.)、][ \t]*)?\**([^：:\n*]{{1,{ITEM_HEAD_MAX_CHARS}}})\**[ \t]*[：:]"
)
"""The head of a glossary-style line: an optional list marker, a short term, then a colon."""
_POINTER = re.compile(r"^[\s•·*\-]*(详见|参见|延伸阅读|see also|read more)\s*[:：]", re.IGNORECASE)
"""A line that only points elsewhere ("• 详见:论文阅读_GLM"): it names another article, never answers, and
a small model quotes it as if it did."""


class _VectorCache:
    """Sentence vectors kept across questions (the same notes come back again and again in a chat), per
    embedding model, least recently used dropped first; ~1.5 kB per sentence."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._models: weakref.WeakKeyDictionary[Any, OrderedDict[str, np.ndarray]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def vectors(self, embeddings: E5Embeddings, texts: Sequence[str]) -> np.ndarray:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            cache = self._models.setdefault(embeddings, OrderedDict())
            for t in texts:
                if t in cache:
                    found[t] = cache[t]
                    cache.move_to_end(t)
        missing = sorted((t for t in dict.fromkeys(texts) if t not in found), key=len)
        if missing:
            new = np.concatenate(
                [
                    np.asarray(embeddings.embed_documents(missing[i : i + SENTENCE_BATCH]), dtype=np.float32)
                    for i in range(0, len(missing), SENTENCE_BATCH)
                ]
            )
            found.update(zip(missing, new, strict=True))
            with self._lock:
                cache.update(zip(missing, new, strict=True))
                while len(cache) > self.size:
                    cache.popitem(last=False)
        return np.stack([found[t] for t in texts])


_CACHE = _VectorCache()


@dataclass(frozen=True)
class Selected:
    """A passage as given to the model, tied back to its chunk."""

    passage: Passage
    hit: Hit
    spans: tuple[tuple[int, int], ...]
    """Character spans (offsets into the chunk text) of the sentences that were kept."""
    table: bool = False
    """Whether the kept text includes table rows (shown under their header row)."""
    lead: tuple[tuple[int, int], ...] = ()
    """Spans (offsets into the chunk text) of the windows that scored best for the question or one of its
    parts: the evidence shown to the user before the model answers."""


@dataclass(frozen=True)
class _Unit:
    hit: int
    start: int
    end: int
    header: str = ""
    """The header row, when the unit is a table row (rows are scored with it: a bare row has no words)."""
    caption: str = ""
    """What frames a table row: its passage's nearest heading and the line that leads into the table ("结果：
    GPT-3超过了之前的最好结果"). Scored with the row (the header names columns, not what the table is about),
    never shown (the passage label already shows the heading)."""


def sub_questions(question: str) -> list[str]:
    """The parts of a question that asks several things ("X 是什么?它是什么时候发布的?"), else []."""
    parts = [p.strip() for p in _QUESTION_END.split(question) if p.strip()]
    return parts if len(parts) > 1 else []


LONG_LINE_CHARS = 120
"""A line longer than this is a paragraph and is split into sentences; a shorter one (a table row, a list
item, a heading) is one unit: rows and items are the natural unit of what they hold."""


def _units(hit: Hit) -> list[tuple[int, int]]:
    """Sentences of a prose chunk; lines of tables, lists and code (rows are the natural unit there)."""
    text = hit.chunk.text
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        if not line.strip():
            continue
        if len(line) > LONG_LINE_CHARS:
            spans.extend(split_sentences(text, start, end))
        else:
            spans.append((start, end))
    return spans


def _pool_units(hits: Sequence[Hit]) -> list[_Unit]:
    """Every usable sentence/line of the pooled hits, once: a sentence repeated by an overlapping neighbour
    chunk counts once, a line that only repeats the passage's label or points to another article is dropped,
    and a sentence in a note that tries to give the model orders is not passed on (the note stays searchable)."""
    units: list[_Unit] = []
    seen: set[str] = set()
    for i, h in enumerate(hits):
        shown = {squash(_label(h)), squash(h.chunk.nearest_heading)}
        split_header = h.chunk.context.split("\n")[1] if "\n" in h.chunk.context else ""
        for a, b in _units(h):
            text = h.chunk.text[a:b]
            key = squash(text)
            table = next((t for t in h.chunk.tables if t.start <= a < t.end), None)
            header = (table.header if table else "") or split_header
            if (
                (len(key) < MIN_CHARS and not header)
                or key in seen
                or key in shown
                or key == squash(header)
                # an alignment row holds no content, and would score with the header over the rows that answer
                or ALIGNMENT_ROW.match(text)
                or _POINTER.match(text)
                or injection(text)
            ):
                continue
            seen.add(key)
            units.append(_Unit(i, a, b, header, _caption(h, table) if header else ""))
    return units


def _caption(h: Hit, table: TableSpan | None) -> str:
    """The nearest heading of a table row's passage and the line right above its table (``_Unit.caption``)."""
    lead = h.chunk.text[: table.start].rstrip().rsplit("\n", 1)[-1].strip() if table else ""
    return "\n".join(x for x in (h.chunk.nearest_heading, lead) if x)


def _windows(units: Sequence[_Unit], hits: Sequence[Hit]) -> list[tuple[int, int, str]]:
    """Candidate windows ``(first unit, last unit + 1, text)``: runs of up to ``WINDOW_UNITS`` units of one hit."""
    out = []
    for i in range(len(units)):
        for width in range(1, WINDOW_UNITS + 1):
            j = i + width
            if j > len(units) or units[j - 1].hit != units[i].hit:
                break
            chunk_text = hits[units[i].hit].chunk.text
            text = "".join(chunk_text[units[k].start : units[k].end] for k in range(i, j))
            if width > 1 and len(text) > WINDOW_MAX_CHARS:
                break
            out.append((i, j, text))
    return out


def _lexical(question: str, window_terms: Sequence[set[str]], idf: dict[str, float]) -> np.ndarray:
    """Share of the question's terms (IDF-weighted over the pool) that each window contains."""
    q_terms = terms(question)
    rare = max(idf.values(), default=1.0)  # a term no pooled sentence has counts as the rarest
    total = sum(idf.get(t, rare) for t in q_terms) or 1.0
    return np.array([sum(idf.get(t, rare) for t in q_terms & w) / total for w in window_terms], dtype=np.float32)


class _Pool:
    """The candidate windows of some hits, with what scoring them against a question needs."""

    def __init__(self, hits: Sequence[Hit], embeddings: E5Embeddings):
        self.hits = list(hits)
        self.embeddings = embeddings
        self.units = _pool_units(self.hits)
        self.windows = _windows(self.units, self.hits)
        if not self.windows:
            return
        units, hits = self.units, self.hits
        unit_texts = [f"{u.caption}\n{u.header}\n{hits[u.hit].chunk.text[u.start : u.end]}".strip() for u in units]
        unit_vecs = _CACHE.vectors(embeddings, unit_texts)
        vecs = np.stack([unit_vecs[i:j].sum(axis=0) for i, j, _ in self.windows])
        self.vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        self.window_terms = [terms(f"{units[i].caption}\n{units[i].header}\n{text}") for i, _, text in self.windows]
        self.numeric = np.array([bool(quantities(link_texts(text))) for _, _, text in self.windows],
                                dtype=np.float32)  # a link's target holds digits that are no figure
        # what each unit costs the passage budget: the characters the model reads (links as their text)
        self.reads = [len(link_texts(hits[u.hit].chunk.text[u.start : u.end])) for u in units]
        df: dict[str, int] = {}
        for u in units:
            for t in terms(hits[u.hit].chunk.text[u.start : u.end]):
                df[t] = df.get(t, 0) + 1
        self.idf = {t: math.log(1 + len(units) / (n + 0.5)) for t, n in df.items()}
        self.bonus = np.array([RANK_BONUS * (len(hits) - units[i].hit) for i, _, _ in self.windows], dtype=np.float32)

    def score(self, question: str) -> np.ndarray:
        """Each window's e5 cosine to the question, plus weighted term overlap, the rank bonus, and the answer
        type's bonus when a number is asked for."""
        q_vec = np.asarray(self.embeddings.embed_query(question), dtype=np.float32)
        scores = self.vecs @ q_vec + LEXICAL_WEIGHT * _lexical(question, self.window_terms, self.idf) + self.bonus
        return scores + ANSWER_TYPE_BONUS * self.numeric if asks_for_number(question) else scores


def best_window(question: str, hits: Sequence[Hit], embeddings: E5Embeddings) -> str:
    """The text of the window of ``hits`` that best answers ``question`` ("" when there is none)."""
    pool = _Pool(hits, embeddings)
    return pool.windows[int(np.argmax(pool.score(question)))][2] if pool.windows else ""


def select_context(
    question: str | Sequence[str],
    hits: Sequence[Hit],
    embeddings: E5Embeddings,
    n_passages: int,
    budget_chars: int,
    hops: Sequence[tuple[str, Hit]] = (),
) -> list[Selected]:
    """Pick the sentences of the top ``n_passages`` hits that answer the question, within ``budget_chars``.

    Candidates are windows of one or two neighbouring sentences (table rows, list lines), scored by cosine
    similarity to the question (the same e5 embeddings as retrieval) plus IDF-weighted term overlap and a
    small bonus for retrieval rank; the best over the question's renderings when several are given. The
    best window for the whole question and for each part of a several-part question go in first, then for
    each of ``hops`` (a later part asking about an earlier part's answer and the hit its own search found,
    see ``rag.multihop``) the best window of that hit, then the rest by score until the budget is spent;
    each window brings the sentence after it when it fits. Hits with nothing chosen are left out; a table
    keeps its header row.
    """
    renderings = [question] if isinstance(question, str) else list(question)
    pool = _Pool(hits[:n_passages], embeddings)
    if not pool.windows:
        return []
    units, windows, hits = pool.units, pool.windows, pool.hits
    whole = [pool.score(q) for q in renderings]
    part_scores = [pool.score(p) for p in sub_questions(renderings[0])]
    chosen: set[int] = set()
    used = 0

    def take(ks: range) -> bool:
        nonlocal used
        new = [k for k in ks if k not in chosen]
        cost = sum(pool.reads[k] + len(GAP) for k in new)
        if used and used + cost > budget_chars:
            return False
        chosen.update(new)
        used += cost
        return True

    def take_window(w: int) -> bool:
        """Take a window and, budget allowing, the next sentence of its paragraph (it often finishes the
        thought: "...也将被纳入LLM技术体系。图像处理和多模态任务是其中的一个自然选择。"); the next row of a
        table or item of a list is another thing, not a continuation."""
        i, j, _ = windows[w]
        if not take(range(i, j)):
            return False
        nxt = units[j] if j < len(units) else None
        if nxt and nxt.hit == units[i].hit and "\n" not in hits[nxt.hit].chunk.text[units[j - 1].end : nxt.start]:
            take(range(j, j + 1))
        return True

    best = np.max(np.stack(whole), axis=0)
    leads: set[int] = set()
    for scores in (best, *part_scores):  # the best window for the question, then for each of its parts
        lead = next((int(w) for w in np.argsort(-scores) if take_window(int(w))), None)
        if lead is not None:
            leads.update(range(windows[lead][0], windows[lead][1]))
    for query, found in hops:
        scores = pool.score(query)
        own = (int(w) for w in np.argsort(-scores) if hits[units[windows[w][0]].hit].chunk.id == found.chunk.id)
        next((w for w in own if take_window(w)), None)
    floor = float(best.max()) - MARGIN
    for w in np.argsort(-best):
        if best[w] < floor:
            break
        take_window(int(w))
    return _assemble(units, chosen, hits, leads)


def _assemble(units: Sequence[_Unit], chosen: set[int], hits: Sequence[Hit], leads: set[int]) -> list[Selected]:
    """The chosen units as numbered passages, in retrieval order, sentences in note order."""
    out: list[Selected] = []
    for i, h in enumerate(hits):
        picked = sorted((units[k] for k in chosen if units[k].hit == i), key=lambda u: u.start)
        if picked:
            lead = tuple(sorted((units[k].start, units[k].end) for k in leads if units[k].hit == i))
            out.append(_passage(len(out) + 1, h, picked, lead))
    return out


def _passage(number: int, h: Hit, picked: Sequence[_Unit], lead: tuple[tuple[int, int], ...] = ()) -> Selected:
    """One passage: the kept sentences joined with "…" where text was skipped; the header row of a table
    right above its first kept row (the grounding check reads the columns from it); the head of a "term：…"
    line above a sentence cut from it (``_ITEM_HEAD``); links as their text (``link_texts``: a URL costs
    prompt tokens and answers nothing)."""
    pieces: list[str] = []
    prev_end = None
    headers: set[str] = set()
    text = h.chunk.text
    for u in picked:
        line_start = text.rfind("\n", 0, u.start) + 1
        # a sentence cut from the middle of a "term：…" line, its start not kept: the term says what it is about
        cut = line_start < u.start and (prev_end is None or prev_end < line_start)
        head = _ITEM_HEAD.match(link_texts(text[line_start : u.start])) if cut else None
        if prev_end is not None:
            between = text[prev_end : u.start]
            if "\n" not in between:  # the next sentence, or sentences skipped inside a paragraph
                pieces.append(between if not between.strip() else GAP)
            else:  # rows/lines keep their line structure; skipped lines show as "…"
                pieces.append("\n" if not between.strip() else "\n…\n")
        if head:
            pieces.append(f"{head.group(1).strip()}：{GAP.lstrip()}")
        if u.header and u.header not in headers:
            headers.add(u.header)
            pieces.append(f"{link_texts(u.header)}\n")
        pieces.append(link_texts(h.chunk.text[u.start : u.end]))
        prev_end = u.end
    spans = tuple((u.start, u.end) for u in picked)
    return Selected(Passage(number, _label(h), "".join(pieces)), h, spans, table=bool(headers), lead=lead)


def _label(h: Hit) -> str:
    """What a passage is labelled with in the prompt: its nearest heading, else the note's title or file."""
    label = re.sub(r"^[\d.]+\s+", "", h.chunk.nearest_heading)
    return label or h.chunk.source
