"""Stage 6: keep only what the passages support. An answer that says the passages do not answer, repeats
the question, reads as a composed text, is not worded from the passages, states facts they do not hold, or
lacks the number the question asks for becomes an abstention (or a refusal)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ingest.chunking import Chunk
from notesqa.quantity import quantities
from notesqa.text import language, sentences, squash, terms
from rag import guard, prompts
from rag.genre import Genre
from rag.turn import Answer, Reason, Turn

NOT_FOUND = re.compile(r"NOT[_ ]?FOUND|没有找到|未找到|找不到|没有提到|未提及|无法回答|无法提供|不能提供|"
                       r"没有(相关)?信息|can ?not provide|can't provide|unable to provide|"
                       r"(do(es)?n'?t|do(es)? not|did not) (state|mention|contain|say)|not (stated|mentioned)",
                       re.IGNORECASE)
"""The model saying the passages do not answer the question (the prompt asks for "NOT_FOUND")."""

MIN_WORDING_SUPPORT = 0.15
"""Least share of a Chinese answer's own terms (those not already in the question) that the passages found
must contain, when they are Chinese too; below it the answer was made up ("今天天气晴天"). Correct dev
answers: 0.26 and up."""

MIN_NOVEL_TERMS = 2
"""Fewest terms beyond the question's that a Chinese answer must add before its wording is judged (one new
term is too little to tell a made-up answer from a short one)."""

ECHO_MIN_CHARS = 30
"""Shortest question (in word characters) whose repetition is judged an echo: a short question repeated as a
statement ("Kosmos-1 有多少参数") cannot be told from a short answer."""

ECHO_SHARE = 0.8
"""Least share of the question that an answer must repeat verbatim to be an echo of it."""

ECHO_MAX_ADDED = 2
"""Most characters an echo may add to the question (a "请", a "是")."""

LEAK_CHARS = 60
"""How much of the system prompt's start in an answer counts as revealing the prompt."""


def longest_run(a: str, b: str) -> int:
    """Length of the longest common run of characters (whitespace ignored)."""
    a, b = squash(a), squash(b)
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def wording_support(question: str, answer: str, texts: Sequence[str]) -> tuple[float, int]:
    """Share of the answer's terms beyond the question's that occur in ``texts``, and how many there are."""
    novel = terms(answer) - terms(question)
    if not novel:
        return 0.0, 0
    found = set().union(*(terms(t) for t in texts)) if texts else set()
    return len(novel & found) / len(novel), len(novel)


def wording_problem(question: str, answer: str, notes: Sequence[str]) -> tuple[Reason, str] | None:
    """``(reason, why)`` when a Chinese answer to Chinese notes adds nothing to the question or is not
    worded from them; answers in another language than the notes (translations) are not judged."""
    if language(answer) != "zh" or language("".join(notes)) != "zh":
        return None
    share, novel = wording_support(question, answer, notes)
    if novel == 0:
        return Reason.NOT_FOUND, "The answer adds nothing to the question."
    if novel >= MIN_NOVEL_TERMS and share < MIN_WORDING_SUPPORT:
        return Reason.UNGROUNDED, f"The answer's wording is not from the passages ({share:.0%})."
    return None


def echoes(question: str, answer: str) -> bool:
    """Whether the answer is the question said again, adding at most a few characters (a small model's way
    of not answering)."""
    q, a = re.sub(r"\W+", "", question), re.sub(r"\W+", "", answer)
    run = longest_run(q, a)
    added = a.replace(q, "") if q in a else a
    return (len(q) >= ECHO_MIN_CHARS and run >= ECHO_SHARE * len(q) and len(a) - run <= ECHO_MAX_ADDED
            and not re.search(r"[0-9A-Za-z]", added))


def repair(question: str, body: str, pairs: list[tuple[str, str]]) -> str:
    """Keep only the answer's sentences whose facts are supported ("" when none or all of them are)."""
    parts = sentences(body)
    if len(parts) < 2:
        return ""
    kept = [x for x in parts if guard.check_grounding(question, x, pairs).ok]
    return "".join(kept).strip() if kept and len(kept) < len(parts) else ""


@dataclass(frozen=True)
class Verified:
    """An answer that passed: its text as shown (unsupported sentences removed) and what grounds it."""

    body: str
    grounding: guard.Grounding


def verify(turn: Turn, genre: Callable[[str], Genre],
           lead_ins: Callable[[Chunk], list[str]]) -> Verified | Answer:
    """Check the model's answer against the passages: a ``Verified`` answer, or the ``Answer`` it became
    (abstained or refused). ``lead_ins(chunk)`` gives the lines that frame a chunk's lines."""
    question, raw, reasoning, lang = turn.query, turn.raw, turn.reasoning, turn.lang
    body = prompts.tidy_answer(raw)
    if not body or NOT_FOUND.search(body) or len(body) < 2:
        return turn.stop(Reason.NOT_FOUND, reasoning)
    if echoes(question, body):
        return turn.stop(Reason.NOT_FOUND, f"{reasoning}\nThe answer only repeats the question.")
    read = genre(body)
    if read.composed:
        return turn.stop(Reason.REFUSED, f"{reasoning}\n{read.why()}", prompts.DECLINE["produce"][lang])
    made_up = wording_problem(question, body, [x.hit.chunk.embed_text for x in turn.selected])
    if made_up:
        return turn.stop(made_up[0], f"{reasoning}\n{made_up[1]}")
    if prompts.SYSTEM_PROMPT[:LEAK_CHARS].lower() in raw.lower():
        return turn.stop(Reason.REFUSED, reasoning, prompts.REFUSE[lang])
    # what frames a passage: its heading path, and the lead-ins of the chunk it was cut from (the part of the
    # chunk given to the model may start below the sentence that names its subject)
    pairs = [("\n".join([x.hit.chunk.context, *lead_ins(x.hit.chunk)]), x.passage.text) for x in turn.selected]
    ground = guard.check_grounding(question, body, pairs)
    if not ground.ok:
        kept = repair(question, body, pairs)
        if not kept:
            why = "Not supported by the passages: " + ", ".join(ground.unsupported)
            return turn.stop(Reason.UNGROUNDED, f"{reasoning}\n{why}")
        body = kept
        ground = guard.check_grounding(question, body, pairs)
    asks_number = guard.asks_for_number(question)
    if not asks_number and guard.only_numbers(body):
        return turn.stop(Reason.UNGROUNDED, f"{reasoning}\nThe answer is only numbers, but the question does not "
                                            "ask for a quantity.")
    if asks_number and not quantities(body):
        return turn.stop(Reason.UNGROUNDED,
                         f"{reasoning}\nThe question asks for a number or date; the answer has none.")
    return Verified(body, ground)
