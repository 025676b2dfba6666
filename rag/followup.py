"""Rewrite a follow-up ("它有多少参数?") into a standalone question using the conversation history."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.sparse import tokenize
from notesqa.text import CJK, specific_terms

_ZH_PRONOUN = re.compile(r"(这个模型|该模型|这个方法|该方法|它们|他们|她们|它|他|她|其|该|此)")
_EN_PRONOUN = re.compile(r"\b(its|it|they|their|them|this model|that model|this|that|he|his|she|her)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could "
    "tell explain describe give list please the a an".split()
)
_ZH_LEAD = re.compile(r"^(那|那么|还有|另外)")
_EN_LEAD = re.compile(r"^(and|what about|how about)\b", re.IGNORECASE)


def subject_of(question: str) -> str | None:
    """The main thing a question is about: its first specific name, else its longest content word."""
    names = specific_terms(question)
    if names:
        return names[0]
    for m in _CAPITALISED.finditer(question):  # "Hugging Face", "Dolly" (not a sentence-initial "What")
        phrase = " ".join(w for w in m.group(0).split() if w.lower() not in _QUESTION_WORDS)
        if phrase:
            return phrase
    words = [t for t in tokenize(question) if len(t) >= 2]
    return max(words, key=len) if words else None


def standalone(question: str, history: Sequence[tuple[str, str]]) -> str:
    """Return ``question`` with a pronoun replaced by the subject of the latest earlier question.

    ``history`` holds (user, assistant) turns, oldest first. Questions that already name something
    specific, or that have no history, are returned unchanged.
    """
    if not history or specific_terms(question):
        return question
    subject = next((s for user, _ in reversed(history) if (s := subject_of(user))), None)
    if not subject:
        return question
    zh = bool(CJK.search(question))
    pronoun = _ZH_PRONOUN if zh else _EN_PRONOUN
    m = pronoun.search(question)
    if m:
        word = m.group(0)
        repl = f"{subject}'s" if word.lower() in {"its", "their", "his", "her"} else subject
        return question[: m.start()] + repl + question[m.end() :]
    lead = (_ZH_LEAD if zh else _EN_LEAD).match(question)
    if lead:
        rest = question[lead.end() :].lstrip(" ,，")
        return f"{subject} {rest}" if not zh else f"{subject}{rest}"
    return question
