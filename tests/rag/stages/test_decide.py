"""``decide``: abstain before the model when the passages found cannot hold the answer."""

from __future__ import annotations

from notesqa.settings import Settings
from rag.retrieve import Hit
from rag.stages.decide import decide
from rag.turn import Reason
from tests.rag.stages.factories import chunk, turn


def test_a_weak_best_passage_or_a_name_the_notes_lack_stops_the_turn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(cache_dir=tmp_path)
    notes = ["Kosmos-1 是一个多模态大模型，有 1.3B 参数。"]
    strong, weak = s.abstain_dense_min_zh + 0.05, s.abstain_dense_min_zh - 0.05

    t = turn("Kosmos-1 有多少参数?")
    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=strong)]
    assert decide(t, s, lambda hits: notes) is None

    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=weak)]
    stopped = decide(t, s, lambda hits: notes)
    assert stopped is not None and stopped.reason is Reason.GATE and stopped.abstained

    t = turn("Flamingo-9 有多少参数?")
    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=strong)]
    stopped = decide(t, s, lambda hits: notes)
    assert stopped is not None and stopped.reason is Reason.MISSING_TERMS and "Flamingo-9" in stopped.reasoning

    t = turn("Kosmos-1 有多少参数?")
    stopped = decide(t, s, lambda hits: notes)  # nothing found at all
    assert stopped is not None and stopped.reason is Reason.GATE
