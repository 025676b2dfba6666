"""Cross-lingual retrieval: an English question also searches the (mostly Chinese) notes in Chinese."""

from __future__ import annotations

import re
from typing import Any

from rag.prompts import language

SYSTEM = ("You translate questions into Simplified Chinese. Keep names, numbers and English technical terms as "
          "they are. Do not answer the question. Output only the translation.")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def usable(question: str, translation: str) -> bool:
    """A translation is used only if it is Chinese, not much longer than the question, and adds no numbers
    (a small model sometimes answers instead of translating, inventing a figure)."""
    if not translation or language(translation) != "zh" or len(translation) > 2 * len(question) + 10:
        return False
    return set(_NUMBER.findall(translation)) <= set(_NUMBER.findall(question))


def chinese_query(llm: Any, question: str, max_tokens: int = 48) -> str | None:
    """The question rendered in Chinese by the local model (call inside ``llm.turn()``), or None."""
    prompt = llm.chat_prompt([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
    text = llm.aside(prompt, max_tokens, stop=["\n", "<|im_end|>"]).strip()
    return text if usable(question, text) else None
