"""Short prompts: keep only the sentences of the top passages that matter for the question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.chunking import split_sentences, table_spans
from ingest.embeddings import E5Embeddings
from rag.guard import injection
from rag.prompts import Passage
from rag.retrieve import Hit

GAP = " … "


@dataclass(frozen=True)
class Selected:
    """A passage as given to the model, tied back to its chunk."""

    passage: Passage
    hit: Hit
    spans: tuple[tuple[int, int], ...]
    """Character spans (offsets into the chunk text) of the sentences that were kept."""


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\s+", "", text.lower())
    return {t[i : i + 2] for i in range(len(t) - 1)}


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
        if len(line) > 120:
            spans.extend(split_sentences(text, start, end))
        else:
            spans.append((start, end))
    return spans


def select_context(question: str | Sequence[str], hits: Sequence[Hit], embeddings: E5Embeddings, n_passages: int,
                   budget_chars: int) -> list[Selected]:
    """Pick the most relevant sentences of the top ``n_passages`` hits within ``budget_chars``.

    Sentences are scored by cosine similarity to the question (the same e5 embeddings as retrieval) plus
    character-bigram overlap, the best over the question's renderings when several are given (a translated
    question matches the notes' own words); each passage keeps at least its best sentence, and a table keeps
    its header.
    """
    questions = [question] if isinstance(question, str) else list(question)
    hits = list(hits[:n_passages])
    if not hits:
        return []
    # a sentence in a note that tries to give the model orders is not passed on (the note stays searchable)
    units = [(h, (a, b)) for h in hits for a, b in _units(h) if not injection(h.chunk.text[a:b])]
    if not units:
        return []
    texts = [h.chunk.text[a:b] for h, (a, b) in units]
    s_vecs = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
    scores = np.full(len(texts), -np.inf, dtype=np.float32)
    for q in questions:
        q_vec = np.asarray(embeddings.embed_query(q), dtype=np.float32)
        q_grams = _bigrams(q)
        lexical = np.array([len(q_grams & _bigrams(t)) / max(1, len(q_grams)) for t in texts], dtype=np.float32)
        scores = np.maximum(scores, s_vecs @ q_vec + 0.5 * lexical)
    by_hit = {id(h): i for i, h in enumerate(hits)}
    rank_bonus = np.array([0.02 * (n_passages - by_hit[id(h)]) for h, _ in units], dtype=np.float32)
    order = np.argsort(-(scores + rank_bonus))

    chosen: dict[int, set[int]] = {i: set() for i in range(len(hits))}
    used = 0
    for pass_no in range(2):  # 1st pass: best sentence of every passage; 2nd: the rest by score
        for u in order:
            h, (a, b) = units[u]
            i = by_hit[id(h)]
            if pass_no == 0 and chosen[i]:
                continue
            if u in chosen[i]:
                continue
            cost = b - a + len(GAP)
            if used + cost > budget_chars and (pass_no == 1 or used > 0):
                if pass_no == 0:
                    continue
                break
            chosen[i].add(u)
            used += cost
    out: list[Selected] = []
    for i, h in enumerate(hits):
        picked = sorted(chosen[i], key=lambda u: units[u][1][0])
        if not picked:
            continue
        header = h.chunk.context.split("\n")[1] if "\n" in h.chunk.context else ""
        tables = table_spans(h.chunk.text)
        if not header:
            header = next((hdr for a0, b0, hdr in tables for a, _ in (units[u][1] for u in picked)
                           if a0 <= a < b0), "")
        spans = tuple(units[u][1] for u in picked)
        pieces: list[str] = []
        prev_end = None
        for a, b in spans:
            if prev_end is not None:
                between = h.chunk.text[prev_end:a]
                if "\n" not in between:
                    pieces.append(GAP)  # sentences skipped inside a paragraph
                else:  # rows/lines keep their line structure; skipped lines show as "…"
                    pieces.append("\n" if not between.strip() else "\n…\n")
            pieces.append(h.chunk.text[a:b])
            prev_end = b
        text = "".join(pieces)
        if header and header not in text:
            text = f"{header}\n{text}"
        label = re.sub(r"^[\d.]+\s+", "", (h.chunk.headings[-1] if h.chunk.headings else h.chunk.title))
        label = label or h.chunk.source
        out.append(Selected(Passage(len(out) + 1, label, text), h, spans))
    return out
