"""The text rules shared by ingest and rag: scripts and language, function words, lexical terms."""

from __future__ import annotations

from notesqa.text import (
    CJK,
    CJK_RUN,
    MORE_ENGLISH_STOP_WORDS,
    STOP_WORDS,
    TERM_STOP_WORDS,
    language,
    other_language,
    terms,
)


def test_language() -> None:
    assert language("Kosmos-1 有多少参数?") == "zh"
    assert language("What does 涌现能力 mean in the notes?") == "en"
    assert language("Why did Databricks choose the name Dolly?") == "en"


def test_other_language_is_a_script_other_than_chinese_or_latin() -> None:
    assert other_language("このモデルのパラメータ数は？")  # kana
    assert other_language("Сколько параметров у модели?")
    assert not other_language("Kosmos-1 有多少参数?") and not other_language("How large is GPT-3?")


def test_chinese_characters_include_extension_a_and_compatibility_ideographs() -> None:
    assert CJK.search("参") and CJK.search("\u3400") and CJK.search("\uf900")
    assert not CJK.search("ひらがな GPT-3 ，。")
    assert CJK_RUN.findall("GPT-3 的参数量是 175B") == ["的参数量是"]


def test_terms_are_words_and_chinese_bigrams() -> None:
    assert terms("What is GPT-3's size?") >= {"gpt-3", "size"}
    assert "what" not in terms("What is it")
    assert terms("参数量") == {"参数", "数量"}


def test_one_list_of_function_words_and_what_terms_add_to_it() -> None:
    assert {"的", "什么", "the", "what"} <= STOP_WORDS
    assert not STOP_WORDS & MORE_ENGLISH_STOP_WORDS
    assert TERM_STOP_WORDS == STOP_WORDS | MORE_ENGLISH_STOP_WORDS
    assert "have" not in terms("Which models have memory?") and "have" not in STOP_WORDS
