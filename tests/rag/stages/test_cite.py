"""``cite``: the passages an answer was taken from, decided in code."""

from __future__ import annotations

import pytest

from rag.guard import Grounding
from rag.stages.cite import cite, cited_numbers
from rag.stages.verify import Verified
from tests.rag.stages.factories import selected, turn


class NoEmbeddings:
    """Fails the test if the meaning of the answer is needed (it is not when the answer copies a passage)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("embeddings were not needed")


def test_a_passage_the_answer_copies_is_cited_and_marked() -> None:
    t = turn("Kosmos-1 有多少参数?")
    fact = "Kosmos-1 的数据和模型规模：1.3 B 的参数。"
    t.selected = [selected(1, "Flamingo 是一个视觉语言模型。"), selected(2, fact)]
    t.raw, t.reasoning = f"{fact} [1]", ""
    final = cite(t, Verified(fact, Grounding(True, (), (1,))), NoEmbeddings())  # type: ignore[arg-type]
    assert [c.n for c in final.citations] == [2] and final.answer.endswith("[2]") and not final.abstained
    c = final.citations[0]
    assert c.chunk_id == "c2" and c.spans == ((c.start, c.end),)  # the whole passage was given


def test_the_model_s_marker_is_the_last_resort() -> None:
    given = [selected(1, "甲乙丙丁。"), selected(2, "戊己庚辛。")]
    assert cited_numbers("x [2]", "", "", given, Grounding(True), NoEmbeddings()) == [2]  # type: ignore[arg-type]


@pytest.mark.slow
def test_an_english_answer_cites_the_passage_it_translates(settings) -> None:  # type: ignore[no-untyped-def]
    from ingest.embeddings import get_embeddings

    given = [selected(1, "BERT，第一个突破性的大型语言模型。2019 年，谷歌的一个研究团队推出了BERT。"),
             selected(2, "场景:编码器产生适合自然语言理解任务的上下文表示,常用于解决阅读理解,完型填空等问题。")]
    body = "Autoencoding models are commonly used for reading comprehension and fill-in-the-blank problems."
    # the reasoning quotes passage 1 verbatim, but the answer translates passage 2
    numbers = cited_numbers(f"{body} [1]", "Passage [1] says: “BERT，第一个突破性的大型语言模型”", body, given,
                            Grounding(True, (), (0, 1)), get_embeddings(settings))
    assert numbers == [2]
