"""Text rules shared by the answer path: lexical terms of Chinese and English text, and English function
words."""

from __future__ import annotations

import re

_LATIN = re.compile(r"[a-z0-9][a-z0-9.\-+]*[a-z0-9]|[a-z0-9]")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
STOP_WORDS = frozenset(
    "a an the of to in on for and or is are was were be been being what which who whom how why when where does do "
    "did that this these those with by as at from it its into about have has had say says said can could would "
    "should will there their they them than then so such not no but if".split()
)
"""English function words: not lexical terms, and not names when capitalised at a question's start."""

def terms(text: str) -> set[str]:
    """Lexical terms: Latin words and numbers (lower-cased, minus stop words) and Chinese character bigrams."""
    text = text.lower()
    out = {w for w in _LATIN.findall(text) if w not in STOP_WORDS}
    for run in CJK_RUN.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            out.add(run)
    return out
