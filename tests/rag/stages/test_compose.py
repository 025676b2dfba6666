"""``compose``: a several-part question's parts answered in turn and merged into one answer."""

from __future__ import annotations

from collections.abc import Iterator

from rag import prompts
from rag.decompose import Part
from rag.stages.compose import compose, merge
from rag.turn import Answer, Citation, Event, EventKind, Reason, Turn
from tests.rag.stages.factories import turn


def test_the_parts_of_a_question_are_merged_in_order_with_renumbered_citations() -> None:
    def part(q: str, text: str, n_passages: int, cited: list[int], reason: Reason = Reason.ANSWERED) -> Answer:
        a = Answer(question=q, answer=text, abstained=bool(reason), reason=reason,
                   passages=[{"n": n, "chunk_id": f"{q}{n}"} for n in range(1, n_passages + 1)],
                   citations=[Citation("x.md", f"c{n}", "", 0, 0, n=n) for n in cited],
                   timings={"first_token": 1.0 if not reason else None, "generate": 2.0},
                   usage={"prompt_tokens": 100})
        return a

    whole = Answer(question="A？B？C？", answer="")
    merged = merge(whole, [part("A", "甲 [2]", 3, [2]), part("B", prompts.ABSTAIN["zh"], 2, [], Reason.GATE),
                           part("C", "丙 [1]", 2, [1])], t0=0.0)
    assert not merged.abstained
    assert merged.answer == "甲 [2]\n\n" + prompts.PART_ABSTAIN["zh"].format(n=2) + "\n\n丙 [6]"
    assert [c.n for c in merged.citations] == [2, 6]
    assert [p["n"] for p in merged.passages] == [1, 2, 3, 4, 5, 6, 7]
    assert merged.usage["prompt_tokens"] == 300 and merged.timings["generate"] == 6.0
    assert "B" not in merged.answer  # a part the notes do not answer is named by number, not repeated

    all_out = merge(Answer(question="A？B？", answer=""),
                    [part("A", prompts.ABSTAIN["zh"], 1, [], Reason.GATE),
                     part("B", prompts.ABSTAIN["zh"], 1, [], Reason.NOT_FOUND)],
                    t0=0.0)
    assert all_out.abstained and all_out.reason == "gate" and all_out.answer == prompts.ABSTAIN["zh"]



def test_the_stream_shows_each_part_in_its_place() -> None:
    def one(t: Turn) -> Iterator[Event | Answer]:
        if t.query == "B？":
            yield t.stop(Reason.GATE, "weak")
            return
        yield Event(EventKind.ANSWER, f"answer to {t.query}")
        t.result.citations = [Citation("x.md", "c1", "", 0, 0, n=1)]
        t.result.passages = [{"n": 1, "chunk_id": t.query}]
        yield t.result.finish(t.t0, f"answer to {t.query} [1]", Reason.ANSWERED)

    items = list(compose(turn("A？B？C？"), [Part("A？", ""), Part("B？", ""), Part("C？", "")], one))
    texts = [x.text for x in items if isinstance(x, Event)]
    assert texts == ["answer to A？", "\n\n" + prompts.PART_ABSTAIN["zh"].format(n=2), "\n\nanswer to C？"]
    final = items[-1]
    assert isinstance(final, Answer) and final.answer.endswith("answer to C？ [2]")
