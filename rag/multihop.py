"""A later part of a question that asks about an earlier part's answer ("…的关键节点是什么?它是什么时候发布的?")."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ingest.embeddings import E5Embeddings
from notesqa.text import names
from rag.context import best_window, sub_questions
from rag.retrieve import Hit

BACK_REFERENCE = re.compile(r"(?<![其吉])(?:它们|它|他们|他|她们|她)|\b(?:it|its|they|their|them)\b", re.IGNORECASE)
"""A pronoun standing for something named before it."""


def hop(parts: Sequence[str], i: int, hits: Sequence[Hit], embeddings: E5Embeddings) -> str | None:
    """Part ``i`` as a search for the answer of the part before it, or None when it is not such a part.

    A pronoun in a part stands for a name of the part before it ("T5 属于什么结构?表里怎么评价它?": T5,
    already searched for). When that part names nothing, the pronoun stands for what it asks ("…的关键节点是
    什么?它是什么时候发布的?"): the names that part's best sentences in ``hits`` add ("…(AGI)…ChatGPT是这次转换
    的关键节点…") are put in its place, the answer being unknown before the model has run."""
    if i == 0 or not BACK_REFERENCE.search(parts[i]) or names(parts[i - 1]):
        return None
    asked = {w.lower() for w in names(" ".join(parts))}
    found = [w for w in names(best_window(parts[i - 1], hits, embeddings)) if w.lower() not in asked]
    return BACK_REFERENCE.sub(" ".join(found) + " ", parts[i], count=1).strip() if found else None


def follow(
    question: str,
    hits: Sequence[Hit],
    search: Callable[[str, int], list[Hit]],
    embeddings: E5Embeddings,
    n_passages: int,
) -> tuple[list[Hit], list[tuple[str, Hit]]]:
    """The hits to read, the top ``n_passages`` and each hop's best new hit, and the hops ``(query, hit)``.

    The whole question seldom finds the second hop ("它是什么时候发布的?" is about ChatGPT, which the question
    never names), and a part's own words find the wrong "它是…" sentences."""
    pool = list(hits[:n_passages])
    parts = sub_questions(question)
    hops: list[tuple[str, Hit]] = []
    for i in range(1, len(parts)):
        query = hop(parts, i, hits[:n_passages], embeddings)
        if query is None:
            continue
        seen = {h.chunk.id for h in pool}
        extra = next((h for h in search(query, n_passages) if h.chunk.id not in seen), None)
        if extra is not None:
            pool.append(extra)
            hops.append((query, extra))
    return pool, hops
