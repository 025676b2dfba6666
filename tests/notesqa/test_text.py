"""The text rules shared by ingest and rag: scripts and language, function words, lexical terms, sentences and
whitespace."""

from __future__ import annotations

from notesqa.text import (
    CJK,
    CJK_RUN,
    LATIN_NAME,
    LATIN_TERM,
    LATIN_WORD,
    MORE_ENGLISH_STOP_WORDS,
    STOP_WORDS,
    TERM_STOP_WORDS,
    collapse_spaces,
    language,
    names,
    other_language,
    sentences,
    specific_terms,
    split_sentences,
    squash,
    terms,
)


def test_language() -> None:
    assert language("Kosmos-1 有多少参数?") == "zh"
    assert language("What does 涌现能力 mean in the notes?") == "en"
    assert language("Why did Databricks choose the name Dolly?") == "en"
    # English names, Chinese grammar: Chinese, however many names it has
    assert language("Mistral 里的 SlidingWindow Attention 为什么能省 KV cache 显存？") == "zh"
    assert language("How is 注意力 computed?") == "en"


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


def test_specific_terms_and_names() -> None:
    assert specific_terms("What BLEU score did T5 get on WMT?") == ["BLEU", "T5", "WMT"]
    assert specific_terms("What are autoencoding (BERT-style) models for?") == ["BERT"]
    assert specific_terms("Why did Databricks choose the name Dolly?") == []
    assert specific_terms("Is GPT-4 an LLM used for NLP?") == ["GPT-4"]  # units and fields are not names


def test_names_are_latin_words_with_a_capital_or_digit() -> None:
    assert names("ChatGPT是关键节点,GPT-4 和 T5 都是 model。ChatGPT") == ["ChatGPT", "GPT-4", "T5"]
    assert names("What is it? When was it released?") == []
    assert names("Transformer 和 LLM 的关系") == ["Transformer", "LLM"]


def test_names_and_specific_terms_read_latin_words_differently() -> None:
    assert LATIN_NAME.findall("C++ and text_davinci") == ["C++", "and", "text_davinci"]
    assert LATIN_WORD.findall("C++ and text_davinci") == ["C", "and", "text", "davinci"]
    assert LATIN_TERM.findall("gpt-3.5 has 1.3b") == ["gpt-3.5", "has", "1.3b"]


def test_sentence_splitter_handles_chinese_and_english_ends() -> None:
    text = "第一句。第二句！Third one? Fourth one. 版本 1.3 B 不拆开；最后"
    spans = [text[a:b] for a, b in split_sentences(text, 0, len(text))]
    assert spans == ["第一句。", "第二句！", "Third one?", "Fourth one.", "版本 1.3 B 不拆开；", "最后"]


def test_sentence_spans_keep_closing_quotes_and_end_at_line_breaks() -> None:
    text = "  他说：“好。”然后\n1. 第一项 2. 第二项"
    spans = [text[a:b] for a, b in split_sentences(text, 0, len(text))]
    assert spans == ["他说：“好。”", "然后", "1. 第一项 2. 第二项"]


def test_answer_sentences_end_at_punctuation_only() -> None:
    answer = "GPT-3 有 1750 亿参数。它由 OpenAI 发布；It has 96 layers.  Done\nhere"
    assert sentences(answer) == ["GPT-3 有 1750 亿参数。", "它由 OpenAI 发布；", "It has 96 layers.", "Done\nhere"]
    assert sentences("  ") == []


def test_whitespace_squashed_or_collapsed() -> None:
    assert squash(" 参数量\n 175 B\t") == "参数量175B"
    assert collapse_spaces(" 参数量\n 175  B\t") == "参数量 175 B"


def test_links_read_as_their_text() -> None:
    from notesqa.text import link_texts

    assert link_texts("见 [MRKL](https://arxiv.org/abs/2205.00445)：架构") == "见 MRKL：架构"
    assert link_texts("![示意图](img/a.png) 与 [Go](https://en.wikipedia.org/wiki/Go_(game))") == "示意图 与 Go"
    assert link_texts("数组 a[1] 和 [注]") == "数组 a[1] 和 [注]"
