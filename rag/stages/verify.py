"""Stage 6: keep only what the passages support. An answer that says the passages do not answer, repeats
the question or reads as a composed text becomes an abstention (or a refusal); sentences whose facts the
passages do not hold are removed; what is left is shown only when the answerability decision
(``rag.answerability``) finds it likely to be right."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.chunking import Chunk
from notesqa.text import language, longest_run, sentences, squash, terms
from rag import answerability, guard, prompts
from rag.genre import Genre
from rag.turn import Answer, Reason, Turn

NOT_FOUND = re.compile(r"NOT[_ ]?FOUND|没有找到|未找到|找不到|没有(具体|明确|直接)?提到|未(具体|明确)?提及|无法回答|"
                       r"无法提供|不能提供|无法确定|信息不足|没有(相关)?信息|can ?not provide|can't provide|"
                       r"unable to provide|(can ?not|can't|unable to) determine|(not enough|insufficient) information|"
                       r"(do(es)?n'?t|do(es)? not|did not) (state|mention|contain|say)|not (stated|mentioned)",
                       re.IGNORECASE)
"""The model saying the passages do not answer the question (the prompt asks for "NOT_FOUND")."""


def without_declines(body: str, passages: Sequence[str]) -> str:
    """What the answer says besides declining ("" when it only declines). A sentence in which the model says
    the passages do not answer (``NOT_FOUND``) is its own remark, not a fact from the notes: it goes, and
    what else the answer says stays ("750GB 的数据集 C4。由于没有具体提到T5的参数大小，无法确定…" keeps its
    first sentence). A sentence copied from a passage is the note speaking, not a decline."""
    notes = squash("".join(passages))
    for x in sentences(body):
        if NOT_FOUND.search(x) and squash(x).strip("。.") not in notes:
            body = body.replace(x, "", 1)
    return body.strip()

ECHO_MIN_CHARS = 30
"""Shortest question (in word characters) whose repetition is judged an echo: a short question repeated as a
statement ("Kosmos-1 有多少参数") cannot be told from a short answer."""

ECHO_SHARE = 0.8
"""Least share of the question that an answer must repeat verbatim to be an echo of it."""

ECHO_MAX_ADDED = 2
"""Most characters an echo may add to the question (a "请", a "是")."""

LEAK_CHARS = 60
"""How much of the system prompt's start in an answer counts as revealing the prompt."""


def adds_nothing(question: str, answer: str) -> bool:
    """Whether a Chinese answer has no term that the question does not have: the question said back."""
    return language(answer) == "zh" and not (terms(answer) - terms(question))


def echoes(question: str, answer: str) -> bool:
    """Whether the answer is the question said again, adding at most a few characters (a small model's way
    of not answering)."""
    q, a = re.sub(r"\W+", "", question), re.sub(r"\W+", "", answer)
    run = longest_run(q, a)
    added = a.replace(q, "") if q in a else a
    return (len(q) >= ECHO_MIN_CHARS and run >= ECHO_SHARE * len(q) and len(a) - run <= ECHO_MAX_ADDED
            and not re.search(r"[0-9A-Za-z]", added))


def repair(question: str, body: str, pairs: list[tuple[str, str]], renderings: Sequence[str] = ()) -> str:
    """Keep only the answer's sentences whose facts are supported ("" when none or all of them are)."""
    parts = sentences(body)
    if len(parts) < 2:
        return ""
    kept = [x for x in parts if guard.check_grounding(question, x, pairs, renderings).ok]
    return "".join(kept).strip() if kept and len(kept) < len(parts) else ""


@dataclass(frozen=True)
class Verified:
    """An answer that passed: its text as shown (unsupported sentences removed) and what grounds it."""

    body: str
    grounding: guard.Grounding


def verify(turn: Turn, genre: Callable[[str], Genre], lead_ins: Callable[[Chunk], list[str]],
           minimum: float) -> Verified | Answer:
    """Check the model's answer against the passages: a ``Verified`` answer, or the ``Answer`` it became
    (abstained or refused). ``lead_ins(chunk)`` gives the lines that frame a chunk's lines; ``minimum`` is
    the least probability of being right (``rag.answerability``) an answer needs to be shown."""
    question, raw, reasoning, lang = turn.query, turn.raw, turn.reasoning, turn.lang
    body = without_declines(prompts.tidy_answer(raw), [x.passage.text for x in turn.selected])
    if not body or len(body) < 2:
        return turn.stop(Reason.NOT_FOUND, reasoning)
    if echoes(question, body) or adds_nothing(question, body):
        return turn.stop(Reason.NOT_FOUND, f"{reasoning}\nThe answer only repeats the question.")
    read = genre(body)
    if read.composed:
        return turn.stop(Reason.REFUSED, f"{reasoning}\n{read.why()}", prompts.DECLINE["produce"][lang])
    if prompts.SYSTEM_PROMPT[:LEAK_CHARS].lower() in raw.lower():
        return turn.stop(Reason.REFUSED, reasoning, prompts.REFUSE[lang])
    # what frames a passage: its heading path, and the lead-ins of the chunk it was cut from (the part of the
    # chunk given to the model may start below the sentence that names its subject)
    pairs = [("\n".join([x.hit.chunk.context, *lead_ins(x.hit.chunk)]), x.passage.text) for x in turn.selected]
    renderings = turn.renderings[1:]  # the question in the notes' language, made for the search
    ground = guard.check_grounding(question, body, pairs, renderings)
    if not ground.ok:
        kept = repair(question, body, pairs, renderings)
        if kept:
            body = kept
            ground = guard.check_grounding(question, body, pairs, renderings)
    if turn.signals is None:
        raise ValueError("verify reads the signals that decide sets on the turn; run decide first")
    # a translated answer's wording is judged on what the model wrote in the notes' language
    worded = prompts.tidy_answer(turn.draft) if turn.draft and body == prompts.tidy_answer(raw) else body
    signals = answerability.after_model(turn.signals, question, reasoning, worded,
                                        [prompts.rows_as_fields(x.passage.text) for x in turn.selected],
                                        [x.hit.chunk.embed_text for x in turn.selected], ground,
                                        turn.result.token_p, turn.result.doubt)
    p = answerability.probability(signals)
    turn.result.answerability = {"stage": "after model", "p": round(p, 4), "signals": signals.to_dict()}
    if p < minimum:
        # the shares below 1 and a doubt above 0 (not similarity, language, the quote or unweighted signals)
        weights = answerability.WEIGHTS
        weak = ", ".join(f"{k} {v:.2f}" for k, v in signals.to_dict().items() if k not in ("dense", "english", "quote")
                         and ((weights[k] > 0 and v < 1) or (weights[k] < 0 and v > 0)))
        unsupported = f" Not supported by the passages: {', '.join(ground.unsupported)}." if ground.unsupported else ""
        return turn.stop(Reason.UNGROUNDED, f"{reasoning}\nThe answer is unlikely to be right (p = {p:.2f} < "
                                            f"{minimum}; {weak or 'retrieval'}).{unsupported}")
    return Verified(body, ground)
