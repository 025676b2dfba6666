"""Rated answers (thumbs up/down from the UI or ``POST /v1/feedback``) as an eval question set.

Each rated turn becomes one line in the format of ``eval/dev.jsonl`` (``id, question, lang, type, answer,
keywords, evidence[{source, quote}]``), so ``notesqa eval`` can run it:

- thumbs up on an answer: ``type`` "fact", the answer as the expected one, its numbers and names (those not in
  the question) as keywords, the sentences it cites as evidence;
- thumbs up on "the notes don't cover this": ``type`` "unanswerable"; on a declined request: "adversarial";
- thumbs down: ``type`` "fact" with no expected answer yet, and a ``review`` note: a person writes the right
  answer and keywords (or changes the type) before the line is used.

Extra keys, ignored by the eval loader: ``rating``, ``system_answer``, ``history`` (the conversation's earlier
questions, for a follow-up), ``conversation`` and ``turn_id``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rag.turn import Reason
from ui.chats import ChatStore, Conversation, SavedTurn

REVIEW_DOWN_ANSWER = ("rated down: write the expected answer and keywords, or set type to unanswerable if the "
                      "notes do not cover it")
REVIEW_DOWN_DECLINE = "rated down: the notes should answer this; write the expected answer and keywords"


def _plain(answer: str) -> str:
    """The answer without its trailing ``[n]`` markers."""
    return re.sub(r"\s*(?:\[\d{1,2}\])+\s*$", "", answer).strip()


def _quotes(turn: SavedTurn) -> list[dict[str, str]]:
    """The cited sentences (their spans in the cited passages), else the quotes shown before the answer."""
    out = []
    for c in turn.citations:
        for a, b in c.spans:
            quote = c.text[a - c.start : b - c.start].strip()
            if quote:
                out.append({"source": c.source, "quote": quote})
    if not out:
        out = [{"source": e.source, "quote": e.text} for e in turn.evidence if e.text]
    return list({(q["source"], q["quote"]): q for q in out}.values())


def eval_record(conversation: Conversation, turn: SavedTurn) -> dict[str, Any]:
    """One rated turn as an eval question (see the module docstring)."""
    from notesqa.text import language
    from rag.guard import answer_facts

    record: dict[str, Any] = {"id": f"fb{turn.id}", "question": turn.question,
                              "lang": turn.lang or language(turn.question)}
    if turn.rating == 1 and not turn.abstained:
        asked = re.sub(r"\s+", "", turn.question).lower()
        numbers, names = answer_facts(_plain(turn.answer), keep_single_digits=False)
        # a number as its digits ("1.3" of "1.3B"): a later answer may write the multiplier apart or in Chinese
        digits = [re.match(r"[\d.,]*", q.text).group(0) or q.text for q in numbers]  # type: ignore[union-attr]
        keywords = [f for f in [*digits, *names] if re.sub(r"\s+", "", f).lower() not in asked]
        record.update(type="fact", answer=_plain(turn.answer), keywords=keywords, evidence=_quotes(turn))
    elif turn.rating == 1:
        record.update(type="adversarial" if turn.reason == Reason.REFUSED else "unanswerable", answer="", keywords=[],
                      evidence=[])
    else:
        record.update(type="fact", answer="", keywords=[], evidence=[],
                      review=REVIEW_DOWN_DECLINE if turn.abstained else REVIEW_DOWN_ANSWER)
    earlier = [t.question for t in conversation.turns if t.position < turn.position]
    record.update(rating=turn.rating, system_answer=turn.answer, conversation=conversation.id, turn_id=turn.id)
    if earlier:
        record["history"] = earlier
    return record


def export_feedback(store: ChatStore, out: Path) -> int:
    """Write every rated turn to ``out`` as JSON Lines (oldest rating first); returns how many."""
    records = [eval_record(conv, turn) for conv, turn in store.rated()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return len(records)
