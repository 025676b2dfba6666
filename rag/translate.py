"""Cross-lingual retrieval: an English question also searches the (mostly Chinese) notes in Chinese."""

from __future__ import annotations

import re
from typing import Any

from notesqa.text import language
from rag.prompts import prefix_messages

ASK = (
    "Translate this question into Simplified Chinese. Keep names, numbers and English technical terms as they "
    "are. Do not answer it; output only the translation.\n{question}"
)
"""Asked as one more user turn after the answering prompt's fixed prefix, which llama.cpp already holds: only
this short turn is read, and the next answer prompt reuses the same prefix."""
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def usable(question: str, translation: str) -> bool:
    """A translation is used only if it is Chinese, not much longer than the question, and adds no numbers
    (a small model sometimes answers instead of translating, inventing a figure)."""
    if not translation or language(translation) != "zh" or len(translation) > 2 * len(question) + 10:
        return False
    return set(_NUMBER.findall(translation)) <= set(_NUMBER.findall(question))


def chinese_query(llm: Any, question: str, max_tokens: int = 48) -> str | None:
    """The question rendered in Chinese by the local model (call inside ``llm.turn()``), or None."""
    turn = {"role": "user", "content": ASK.format(question=question)}
    text = "".join(
        llm.complete(llm.chat_prompt([*prefix_messages(), turn]), max_tokens, stop=["\n", "<|im_end|>"])
    ).strip()
    return text if usable(question, text) else None
