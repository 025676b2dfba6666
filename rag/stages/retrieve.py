"""Stage 2: the passages for the question (dense + BM25, fused), and for an English question also those for
its Chinese rendering."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ingest.embeddings import E5Embeddings
from notesqa.settings import Settings
from rag import guard
from rag.context import select_context
from rag.retrieve import Hit, HybridRetriever
from rag.stages.select import evidence_of
from rag.translate import chinese_query
from rag.turn import Event, Turn


def retrieve(turn: Turn, retriever: HybridRetriever, k: int) -> None:
    """The ``k`` best passages for the question (or for ``turn.search`` when a part searches with more)."""
    t_r = time.perf_counter()
    turn.hits = retriever(turn.search or turn.query, k)
    turn.result.retrieved = [h.as_dict() for h in turn.hits]
    turn.result.timings["retrieve"] = time.perf_counter() - t_r
    turn.renderings = [turn.query]


def widen(turn: Turn, retriever: HybridRetriever, k: int, llm: Any, embeddings: E5Embeddings,
          notes_of: Callable[[Sequence[Hit]], list[str]], settings: Settings) -> Iterator[Event]:
    """For an English question over notes that may be Chinese: search again with a Chinese rendering of it
    (made by the model) beside the question, and keep the wider hits unless they lose a name the question
    asks about. The rendering costs a model turn (1-2 s): meanwhile the best sentences the first search
    found are shown (e5 is multilingual); they are replaced if the wider search finds better ones."""
    if turn.lang != "en" or not settings.translate_questions:
        return
    turn.shown = tuple(evidence_of(select_context(turn.query, turn.hits, embeddings, settings.context_passages,
                                                  settings.context_max_chars)))
    if turn.shown:
        turn.result.timings["first_evidence"] = time.perf_counter() - turn.t0
        yield Event.quoting(turn.shown)
    t_t = time.perf_counter()
    with llm.turn():
        chinese = chinese_query(llm, turn.query)
    turn.result.timings["translate"] = time.perf_counter() - t_t
    if chinese:
        wider = retriever(turn.search or turn.query, k, also=[chinese])
        if not guard.missing_terms(turn.query, notes_of(wider)):
            turn.renderings.append(chinese)
            turn.hits = wider
            turn.result.retrieved = [h.as_dict() for h in wider]
