"""Stage 4: the passages the model reads, cut to the sentences that answer the question, and the best of
those sentences shown to the user at once, as quotes from the notes."""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence

from ingest.embeddings import E5Embeddings
from notesqa.settings import Settings
from rag.context import Selected, select_context
from rag.multihop import follow
from rag.retrieve import HybridRetriever
from rag.turn import Answer, Event, EventKind, Evidence, Reason, Turn


def evidence_of(selected: Sequence[Selected]) -> list[Evidence]:
    """The best-scoring windows of the selected passages (for the question and each of its parts), in the
    passages' order, each as the verbatim run of the note it spans."""
    out = []
    for x in selected:
        c = x.hit.chunk
        if x.lead:
            a, b = x.lead[0][0], x.lead[-1][1]
            text = c.text[a:b].strip()
            a += c.text[a:b].index(text) if text else 0
            out.append(Evidence(c.source, c.id, text, c.start + a, c.start + a + len(text), c.title,
                                tuple(c.headings), c.lines_of(a, a + len(text))))
    return out


def select(turn: Turn, retriever: HybridRetriever, embeddings: E5Embeddings,
           settings: Settings) -> Generator[Event, None, Answer | None]:
    """Follow a question that needs a second hop (``rag.multihop``), then keep the sentences that answer it
    (``rag.context.select_context``); yield the evidence. Returns the abstained ``Answer`` when nothing
    usable is left, else ``None``."""
    result = turn.result
    result.search_queries = turn.renderings
    t_c = time.perf_counter()
    pool, hops = follow(turn.query, turn.hits, retriever, embeddings, settings.context_passages)
    listed = {h.chunk.id for h in turn.hits}
    result.retrieved += [h.as_dict() for h in pool[settings.context_passages :] if h.chunk.id not in listed]
    turn.selected = select_context(turn.renderings, pool, embeddings, len(pool), settings.context_max_chars,
                                   hops=hops)
    result.timings["select"] = time.perf_counter() - t_c
    if not turn.selected:
        return turn.stop(Reason.NOT_FOUND, "Nothing usable in the passages found.")
    result.passages = [{"n": x.passage.number, "label": x.passage.label, "text": x.passage.text,
                        "source": x.hit.chunk.source, "chunk_id": x.hit.chunk.id} for x in turn.selected]
    quotes = tuple(evidence_of(turn.selected))
    result.evidence = list(quotes)
    result.timings.setdefault("first_evidence", time.perf_counter() - turn.t0)
    if quotes != turn.shown:
        yield Event.quoting(quotes)
    yield Event(EventKind.STATUS, "generating")
    return None
