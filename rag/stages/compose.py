"""A several-part question: each part answered on its own (search, passages, model turn, check), then one
answer made of the parts' answers in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

from rag import prompts
from rag.decompose import Part
from rag.turn import Answer, Event, EventKind, Evidence, Reason, Turn

AnswerOne = Callable[[Turn], Iterator[Event | Answer]]
"""Answers one turn: its events, then its ``Answer``."""


def merge(result: Answer, parts: Sequence[Answer], t0: float) -> Answer:
    """One answer from the answers to a question's parts: their texts in order (an abstained part says so),
    passages and citations renumbered after the parts before them, evidence, searches and token counts
    added up. The whole abstains only when every part did (with the first part's reason)."""
    lang = result.lang
    texts, offset = [], 0
    for p in parts:
        if p.abstained:
            texts.append(prompts.PART_ABSTAIN[lang].format(n=len(texts) + 1))
        else:
            texts.append(prompts.CITE_MARK.sub(lambda m, k=offset: f"[{int(m.group(1)) + k}]", p.answer))
            result.citations += [dataclasses.replace(c, n=c.n + offset) for c in p.citations]
        result.passages += [{**x, "n": x["n"] + offset} for x in p.passages]
        offset += len(p.passages)
        seen = {r["chunk_id"] for r in result.retrieved}
        result.retrieved += [r for r in p.retrieved if r["chunk_id"] not in seen]
        result.evidence += p.evidence
        result.search_queries += p.search_queries
        for key, value in p.usage.items():
            result.usage[key] = result.usage.get(key, 0) + value
        for key, value in p.timings.items():
            if value is None or key == "total":
                continue
            if key.startswith("first"):  # the first part's, when it got that far
                result.timings.setdefault(key, value)
            elif key.endswith("_end"):  # moments, not durations: the last part's
                result.timings[key] = value
            else:
                result.timings[key] = result.timings.get(key, 0.0) + value
        result.model = result.model or p.model
    result.raw_answer = "\n\n".join(p.raw_answer for p in parts)
    result.answerability = {"parts": [p.answerability for p in parts]}
    reasoning = "\n\n".join(f"({i}) {p.question}\n{p.reasoning}" for i, p in enumerate(parts, 1))
    if all(p.abstained for p in parts):
        return result.finish(t0, parts[0].answer, parts[0].reason, reasoning=reasoning)
    return result.finish(t0, "\n\n".join(texts), Reason.ANSWERED, reasoning=reasoning)


def compose(turn: Turn, parts: Sequence[Part], answer_one: AnswerOne) -> Iterator[Event | Answer]:
    """Answer each part with ``answer_one``, then yield the merged ``Answer``. The stream shows every part's
    evidence (added up) and answer as they come, a part the notes do not answer said so in its place."""
    result = turn.result
    done: list[Answer] = []
    quoted: tuple[Evidence, ...] = ()
    for i, part in enumerate(parts):
        sub = Answer(question=part.question, answer="", lang=result.lang, standalone_question=part.question,
                     intent=result.intent)
        opened: set[str] = set()  # the kinds of text this part has begun (each after a blank line)
        for item in answer_one(Turn(sub, turn.t0, part.question, part.search)):
            if isinstance(item, Answer):
                break
            if item.kind == EventKind.EVIDENCE:
                item = Event.quoting(quoted + item.evidence)
            elif i and item.kind in (EventKind.REASONING, EventKind.ANSWER) and item.kind not in opened:
                opened.add(item.kind)
                item = Event(item.kind, "\n\n" + item.text)
            elif i and item.kind == EventKind.REPLACE:
                item = Event(EventKind.REPLACE, "\n\n".join([*(x.answer for x in done), item.text]))
            yield item
        quoted += tuple(sub.evidence)
        done.append(sub)
        if sub.abstained:
            yield Event(EventKind.ANSWER, "\n\n" + prompts.PART_ABSTAIN[result.lang].format(n=i + 1))
    yield merge(result, done, turn.t0)
