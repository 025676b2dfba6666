"""Text rules shared by ingest and rag: scripts and language, function words, lexical terms, names, sentences
and whitespace.

One home for each rule, so that the index and the answer path read text the same way. This module is the
bottom layer: it imports nothing from ``ingest``, ``rag`` or ``ui``.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

# --- scripts and language ------------------------------------------------------------------------------------
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Chinese characters, as ranges for a character class: the CJK unified ideographs, extension A and the
compatibility ideographs."""
CJK = re.compile(f"[{CJK_CHARS}]")
"""One Chinese character."""
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
"""A run of Chinese characters (Chinese has no spaces: a run is where words are looked for)."""
LETTERS = re.compile(r"[A-Za-z]+")
"""A run of Latin letters: an English word, for counting and finding words (numbers and names with digits
are not words here)."""
_OTHER_SCRIPT = re.compile(
    r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f"
    r"\u3040-\u30ff\uac00-\ud7af]"
)
"""Letters of the scripts other than Chinese and Latin that questions come in: Greek, Cyrillic, Hebrew, Arabic,
Devanagari, Thai, Japanese kana, Korean."""
_KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff]")


def language(text: str) -> str:
    """'zh' when the text is Chinese: Chinese characters dominate it (more than twice its English words), or
    it has Chinese characters and not one English function word. A Chinese question names things in English
    ("vLLM 里的 PagedAttention 是怎么管理 KV cache 的？") but its grammar is Chinese; an English one that quotes a
    Chinese term keeps its "what", "the", "in". Else 'en'."""
    cjk = len(CJK.findall(text))
    if not cjk:
        return "en"
    words = LETTERS.findall(text)
    return "zh" if cjk > 2 * len(words) or not any(w.casefold() in STOP_WORDS for w in words) else "en"


OTHER_SCRIPT_SHARE = 0.5
"""Least share of a question's letters in another script for it to count as written in another language (a
Chinese or English question may quote a foreign name)."""


def other_language(text: str) -> bool:
    """True when a question is written mostly in a script other than Chinese or Latin (e.g. Japanese
    kana, Korean, Cyrillic, Arabic): it is still answered (e5 is multilingual), in English, with a notice."""
    if _KANA.search(text):
        return True
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and len(_OTHER_SCRIPT.findall(text)) >= OTHER_SCRIPT_SHARE * len(letters)


# --- function words ------------------------------------------------------------------------------------------
STOP_WORDS = frozenset(
    "的 了 是 在 和 与 及 或 也 就 都 而 被 把 对 中 上 下 为 以 之 其 这 那 有 个 一 不 我 你 他 她 它 们 吗 呢 啊 吧 "
    "什么 怎么 如何 哪些 哪个 多少 为什么 是否 里 "
    "a an the of to in on for and or is are was were be by with as at from that this what which who how "
    "does do did why when where it its their there".split()
)
"""Function words, Chinese and English, that carry no topic (questions are full of them); content words are
never listed. BM25 drops them from its tokens (``ingest.sparse.tokenize``), and they are never a question's
names or anchors (``specific_terms``, ``rag.guard.anchor_terms``)."""

MORE_ENGLISH_STOP_WORDS = frozenset(
    "been being whom these those into about have has had say says said can could would should will they them "
    "than then so such not no but if".split()
)
"""More English function words (auxiliaries, pronouns, conjunctions) that lexical terms and names leave out
too (``TERM_STOP_WORDS``). BM25 keeps them as tokens: its index and rankings were measured with
``STOP_WORDS`` alone, and adding these would change every index's tokens."""

TERM_STOP_WORDS = STOP_WORDS | MORE_ENGLISH_STOP_WORDS
"""What :func:`terms` leaves out (and what is not a name when capitalised at a question's start)."""

# --- lexical terms and names ---------------------------------------------------------------------------------
# Three readings of Latin text, each kept as its users have always read it:
LATIN_TERM = re.compile(r"[a-z0-9][a-z0-9.\-+]*[a-z0-9]|[a-z0-9]")
"""A word or a number of lower-cased text, with inner '.', '-' and '+' ("gpt-3.5", "1.3b"): a lexical term."""
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.\-+]*[A-Za-z0-9]|[A-Za-z]")
"""A word as written, starting with a letter (a number is not a name), with digits and inner '.', '-' and '+'
("GPT-3.5", "T5"): what :func:`names` looks at."""
LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.+_-]*[A-Za-z0-9+]|[A-Za-z]")
"""``LATIN_WORD`` that may also hold '_' and end with '+' ("C++", "text_davinci"): what :func:`specific_terms`
looks at. Kept apart from ``LATIN_WORD``: widening :func:`names` would change which question parts are read as
asking about an earlier answer (``rag.multihop``, ``rag.decompose``)."""

UNITS = frozenset(
    "KB MB GB TB PB FLOPS FLOP GPU CPU TPU AM PM ID OK AI AGI NLP NLU NLG ML DL CV LLM LLMS API APP".split()
)
"""All-caps words that are units or name a whole field ("NLP", which notes may write as 自然语言处理), not
names that pin down what a question is about."""


def terms(text: str) -> set[str]:
    """Lexical terms: Latin words and numbers (lower-cased, minus ``TERM_STOP_WORDS``) and Chinese character
    bigrams."""
    text = text.lower()
    out = {w for w in LATIN_TERM.findall(text) if w not in TERM_STOP_WORDS}
    for run in CJK_RUN.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            out.add(run)
    return out


def specific_terms(text: str) -> list[str]:
    """Names that pin a question to specific things: acronyms, CamelCase and alphanumerics (GPT-4, T5, BLEU),
    in order, once; not ``UNITS`` or function words."""
    out = []
    for m in LATIN_NAME.finditer(text):
        tok = re.sub(r"(-[a-z]+)+$", "", m.group(0).strip(".-_"))  # BERT-style -> BERT
        letters = [c for c in tok if c.isalpha()]
        if len(tok) < 2 or tok.lower() in STOP_WORDS or tok.upper() in UNITS:
            continue
        has_digit = any(c.isdigit() for c in tok)
        caps = sum(c.isupper() for c in letters)
        if has_digit or (len(letters) >= 2 and caps >= 2):
            out.append(tok)
    return list(dict.fromkeys(out))


def names(text: str) -> list[str]:
    """Names in a text, in order, once: Latin words with a capital or a digit (``ChatGPT``, ``T5``, ``GPT-4``),
    not function words. Wider than :func:`specific_terms`, which leaves out "Transformer" (one capital) and
    field names ("LLM"): a pronoun can stand for those too. Chinese names are not told apart here."""
    out: dict[str, None] = {}
    for w in LATIN_WORD.findall(text):
        if any(c.isupper() or c.isdigit() for c in w) and w.lower() not in TERM_STOP_WORDS:
            out.setdefault(w, None)
    return list(out)


# --- sentences -----------------------------------------------------------------------------------------------
SENTENCE_END = "。！？；!?"
"""Punctuation that ends a sentence (Chinese and English); a '.' ends one only before whitespace."""
CLOSERS = "”’\"')）】」』》"
"""Closing quotes and brackets, which belong to the sentence they end."""


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:end]`` (offsets into ``text``, whitespace trimmed): a sentence
    ends at 。！？；!? (with the closing quotes and brackets after it), at '. ' (not after a digit, as in a
    numbered list's "1. ") and at a line break.

    How the chunker cuts prose, and how a passage is cut into the sentences the prompt is made of."""
    spans: list[tuple[int, int]] = []
    s = start
    i = start
    while i < end:
        ch = text[i]
        cut = None
        if ch in SENTENCE_END:
            j = i + 1
            while j < end and (text[j] in SENTENCE_END or text[j] in CLOSERS):
                j += 1
            cut = j
        elif ch == "." and (i + 1 == end or text[i + 1].isspace()) and not (i > start and text[i - 1].isdigit()):
            cut = i + 1
        elif ch == "\n":
            cut = i
        if cut is not None:
            spans.append((s, cut))
            s = cut
            i = cut if cut > i else i + 1
        else:
            i += 1
    spans.append((s, end))
    return [t for t in (strip_span(text, a, b) for a, b in spans) if t]


def strip_span(text: str, a: int, b: int) -> tuple[int, int] | None:
    """``(a, b)`` narrowed to leave out whitespace at either end, or None when ``text[a:b]`` is blank."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else None


_ANSWER_BREAK = re.compile(r"(?<=[。！？!?；;])\s*|(?<=\.)\s+")


def sentences(text: str) -> list[str]:
    """The sentences of an answer, as written, without the whitespace between them: cut after 。！？；!? and
    ';', and after a '.' followed by whitespace; line breaks and closing quotes do not end a sentence here.

    Unlike :func:`split_sentences`, which cuts notes for the index, this cuts a short model-written answer so
    that each sentence can be checked on its own and the supported ones joined back with ""."""
    return [x for x in _ANSWER_BREAK.split(text) if x.strip()]


FINISHED_SENTENCE = re.compile(r"[^。！？!?\n]+?(?:[。！？!?]+|\.(?=\s|$))")
"""A sentence with its end mark, in text still being written (a streamed reply): an unfinished last sentence
does not match."""


# --- whitespace ----------------------------------------------------------------------------------------------
_SPACE = re.compile(r"\s+")
MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
"""A markdown link ``[text](target)`` (an image when preceded by ``!``); a target may hold one level of
parentheses (``https://en.wikipedia.org/wiki/Go_(game)``)."""


def link_texts(text: str) -> str:
    """``text`` with each markdown link (and image) written as its text only: what a reader sees, without a
    URL that a model would read token by token ("[MRKL](https://arxiv.org/abs/2205.00445)" -> "MRKL")."""
    return _ANY_LINK.sub(lambda m: m.group(1), text)


_ANY_LINK = re.compile("!?" + MARKDOWN_LINK.pattern)


def squash(text: str) -> str:
    """``text`` without any whitespace: how texts are compared when spacing and line breaks do not count
    (Chinese is written without spaces; a note breaks lines anywhere)."""
    return _SPACE.sub("", text)


def longest_run(a: str, b: str) -> int:
    """Length of the longest common run of characters of ``a`` and ``b`` (whitespace ignored)."""
    a, b = squash(a), squash(b)
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def collapse_spaces(text: str) -> str:
    """Runs of whitespace (line breaks too) as one space, trimmed."""
    return " ".join(text.split())
