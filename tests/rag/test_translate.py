"""Only translations that are Chinese, short and add no numbers are used for retrieval."""

from __future__ import annotations

from rag.translate import usable


def test_a_faithful_translation_is_used() -> None:
    assert usable("Why did Databricks choose the name Dolly?", "为什么 Databricks 选择了“Dolly”这个名字？")


def test_answers_english_and_invented_numbers_are_not() -> None:
    q = "How long is the context window of Alibaba's Qwen model?"
    assert not usable(q, "阿里云的Qwen模型的上下文窗口长度是1024。")  # answered, with an invented number
    assert not usable(q, "The context window of Qwen is long.")  # not Chinese
    assert not usable(q, "")
    assert not usable("What is GLM?", "GLM 是什么？" * 10)  # rambling
    assert usable("What did GPT-3 with 175B parameters show?", "拥有 175B 参数的 GPT-3 展示了什么？")
