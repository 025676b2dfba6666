"""``generate``: which passages the reasoning quotes verbatim (the model turn itself is tested with the real
model in ``tests/rag/test_answer.py``)."""

from __future__ import annotations

from rag.stages.generate import quotes_verbatim
from tests.rag.stages.factories import selected


def test_only_a_given_prose_passage_is_quoted_verbatim() -> None:
    given = [selected(1, "Kosmos-1 有 1.3B 参数。"), selected(2, "产品 参数量\nGPT-4 1760B", table=True)]
    assert quotes_verbatim("1", given) and quotes_verbatim(" 1", given)
    assert not quotes_verbatim("2", given)  # a table row quoted without its header loses its columns
    assert not quotes_verbatim("3", given) and not quotes_verbatim("无", given)
