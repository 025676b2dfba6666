"""Text rules shared by ingest and rag: function words, lexical terms of Chinese and English text.

One home for each rule, so that the index and the answer path read text the same way. This module is the
bottom layer: it imports nothing from ``ingest``, ``rag`` or ``ui``.
"""

from __future__ import annotations

import re

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

# --- lexical terms -------------------------------------------------------------------------------------------
_LATIN = re.compile(r"[a-z0-9][a-z0-9.\-+]*[a-z0-9]|[a-z0-9]")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def terms(text: str) -> set[str]:
    """Lexical terms: Latin words and numbers (lower-cased, minus ``TERM_STOP_WORDS``) and Chinese character
    bigrams."""
    text = text.lower()
    out = {w for w in _LATIN.findall(text) if w not in TERM_STOP_WORDS}
    for run in CJK_RUN.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            out.add(run)
    return out
