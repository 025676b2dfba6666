"""Stage 1: the question as it will be answered, and the decision about the request before any retrieval."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from notesqa.text import language, other_language
from rag import guard, prompts
from rag.decompose import Part, decompose
from rag.followup import standalone
from rag.intent import Decision
from rag.turn import Answer, Reason, Turn


def prepare(question: str, history: Sequence[tuple[str, str]], max_chars: int, t0: float) -> Turn:
    """Clean the question (``guard.QuestionError`` for an empty or over-long one), read its language, and
    resolve a follow-up into a standalone question with ``history``."""
    question = guard.clean_question(question, max_chars)
    query = standalone(question, history)
    result = Answer(question=question, answer="", lang=language(question), standalone_question=query)
    if other_language(question):
        result.notice = guard.OTHER_LANGUAGE_NOTICE
    return Turn(result, t0, query)


def screen(turn: Turn, intent: Callable[[str], Decision]) -> Answer | None:
    """Decline what is not a question about the notes: first a filter for orders to break the rules, then
    the request decision (``rag.intent``). ``None`` when the question goes on."""
    result = turn.result
    blocked = guard.injection(result.question)
    if blocked:
        return turn.stop(Reason.REFUSED, f"Declined: “{blocked}”.", prompts.REFUSE[turn.lang])
    t_i = time.perf_counter()
    decision = intent(result.question)
    result.timings["intent"] = time.perf_counter() - t_i
    result.intent = decision.intent.value
    if not decision.answer:
        return turn.stop(Reason.REFUSED, decision.why(), prompts.DECLINE[decision.intent][turn.lang])
    return None


def parts(turn: Turn, enabled: bool) -> list[Part]:
    """The questions a several-part question is made of (none for a single question, or when disabled)."""
    return decompose(turn.query) if enabled else []
