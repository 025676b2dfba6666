"""Follow-up questions are rewritten into standalone ones from the history."""

from __future__ import annotations

from rag.followup import standalone

HISTORY = [("LLaMA 是哪家公司发布的?", "Meta。")]


def test_pronoun_is_replaced_by_the_previous_subject() -> None:
    assert standalone("它有多少参数?", HISTORY) == "LLaMA有多少参数?"
    assert standalone("How many parameters does it have?", [("Tell me about Kosmos-1", "...")]) == (
        "How many parameters does Kosmos-1 have?")
    assert standalone("What is its context length?", [("What is GPT-4?", "...")]) == (
        "What is GPT-4's context length?")


def test_lead_words_and_unrelated_questions() -> None:
    assert standalone("那 GLM 呢?", HISTORY) == "那 GLM 呢?"  # names its own subject
    assert standalone("那上下文长度呢?", [("GPT-4 的参数量是多少?", "1760B")]) == "GPT-4上下文长度呢?"
    assert standalone("它有多少参数?", []) == "它有多少参数?"
    assert standalone("Kosmos-1 有多少参数?", HISTORY) == "Kosmos-1 有多少参数?"


def test_capitalised_names_are_taken_whole() -> None:
    assert standalone("它是哪一年创办的?", [("Hugging Face 是做什么的?", "...")]) == "Hugging Face是哪一年创办的?"
    assert standalone("What does it cost?", [("Who released Dolly?", "...")]) == "What does Dolly cost?"
