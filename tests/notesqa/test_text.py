"""The text rules shared by ingest and rag: function words and lexical terms."""

from __future__ import annotations

from notesqa.text import MORE_ENGLISH_STOP_WORDS, STOP_WORDS, TERM_STOP_WORDS, terms


def test_terms_are_words_and_chinese_bigrams() -> None:
    assert terms("What is GPT-3's size?") >= {"gpt-3", "size"}
    assert "what" not in terms("What is it")
    assert terms("参数量") == {"参数", "数量"}


def test_one_list_of_function_words_and_what_terms_add_to_it() -> None:
    assert {"的", "什么", "the", "what"} <= STOP_WORDS
    assert not STOP_WORDS & MORE_ENGLISH_STOP_WORDS
    assert TERM_STOP_WORDS == STOP_WORDS | MORE_ENGLISH_STOP_WORDS
    assert "have" not in terms("Which models have memory?") and "have" not in STOP_WORDS
