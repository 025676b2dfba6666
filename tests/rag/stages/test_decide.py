"""``decide``: abstain before the model when even a perfect answer from the passages found could not pass."""

from __future__ import annotations

from notesqa.settings import Settings
from rag.retrieve import Hit
from rag.stages.decide import decide
from rag.turn import Reason
from tests.rag.stages.factories import chunk, turn


def test_a_weak_best_passage_or_a_name_the_notes_lack_stops_the_turn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(cache_dir=tmp_path)
    notes = ["Kosmos-1 是一个多模态大模型，有 1.3B 参数。"]

    t = turn("Kosmos-1 有多少参数?")
    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=0.9)]
    assert decide(t, s, lambda hits: notes) is None
    assert t.signals is not None and t.result.answerability["stage"] == "before model"

    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=0.6)]  # below abstain_dense_min_zh
    stopped = decide(t, s, lambda hits: notes)
    assert stopped is not None and stopped.reason is Reason.GATE and stopped.abstained

    t = turn("Flamingo-9 有多少参数?")
    t.hits = [Hit(chunk(1, notes[0]), 1.0, dense=0.9)]
    stopped = decide(t, s, lambda hits: notes)
    assert stopped is not None and stopped.reason is Reason.GATE
    assert "mentioned in the notes found: 0%" in stopped.reasoning

    t = turn("Kosmos-1 有多少参数?")
    stopped = decide(t, s, lambda hits: notes)  # nothing found at all
    assert stopped is not None and stopped.reason is Reason.GATE
