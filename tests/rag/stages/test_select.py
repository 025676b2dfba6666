"""``select``: the passages the model reads, and the evidence shown before it."""

from __future__ import annotations

from notesqa.settings import Settings
from rag.stages.select import select
from rag.turn import Answer, Event, EventKind, Reason
from tests.rag.stages.factories import turn
from tests.rag.test_context import BigramEmbeddings, hit


def run(t, settings):  # type: ignore[no-untyped-def]
    """The stage's events and what it returned."""
    stream = select(t, lambda q, k: [], BigramEmbeddings(), settings)  # type: ignore[arg-type]
    events: list[Event] = []
    try:
        while True:
            events.append(next(stream))
    except StopIteration as stop:
        return events, stop.value


def test_the_evidence_comes_first_and_the_passages_are_numbered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = turn("Kosmos-1 有多少参数?")
    t.hits = [hit("前言。\nKosmos-1 的数据和模型规模：1.3 B 的参数。它是多模态模型。", 0), hit("另一篇笔记。", 1)]
    t.renderings = [t.query]
    events, stopped = run(t, Settings(cache_dir=tmp_path))
    assert stopped is None and [e.kind for e in events] == [EventKind.EVIDENCE, EventKind.STATUS]
    assert "1.3 B" in events[0].text and t.result.evidence == list(events[0].evidence)
    assert t.selected and [p["n"] for p in t.result.passages] == list(range(1, len(t.selected) + 1))
    assert t.result.search_queries == [t.query] and t.result.timings["first_evidence"] is not None


def test_nothing_usable_ends_the_turn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = turn("Kosmos-1 有多少参数?")
    events, stopped = run(t, Settings(cache_dir=tmp_path))
    assert events == [] and isinstance(stopped, Answer) and stopped.reason is Reason.NOT_FOUND
