"""A question that asks several things, as questions that each ask one and can stand alone.

A small model given "A 是什么？B 又是多少？" answers A and drops B; given two questions it answers both.
Two shapes are split:

- several questions in one ("Llama-3 的分词器换成了什么？词表扩大到了多少？"): each part is a question; a
  part that names nothing specific borrows the subject of the part before it ("Llama-3 词表扩大到了多少？");
- one question asked of two things in turn ("X 和 Y 分别/各…", "… X and Y respectively"): one question for
  X and one for Y.

A later part that asks about the *answer* of an earlier one ("…的关键节点是什么？它是什么时候发布的？") cannot
be asked before that answer is known: such questions are not split (``rag.multihop`` follows them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from notesqa.text import CJK, CJK_CHARS, names
from rag.context import sub_questions
from rag.followup import standalone, subject_of
from rag.multihop import BACK_REFERENCE

MAX_PARTS = 3
"""Most parts a question is split into; each costs a model turn (questions with more parts are answered
whole)."""

_EACH_ZH = re.compile(r"分别|各自|各(?![种个类位方地国项样式界行])")
"""A word that hands the question to each of two things ("各用了", "分别是"); not "各种", "各个" (various)."""
_EACH_EN = re.compile(r"\b(respectively|each)\b", re.IGNORECASE)
_BOUND = r"\s，,、：:；;。？?（）()“”\"的里中在"
_PAIR_ZH = re.compile(rf"([^{_BOUND}和与及]+?)\s*(?:和|与|以及|及)\s*([^{_BOUND}和与及]+)")
_PAIR_EN = re.compile(r"\b([A-Z][\w.\-+]*|\w+[\d\-][\w.\-+]*)\s+and\s+([A-Z][\w.\-+]*|\w+[\d\-][\w.\-+]*)")
_THESE_TWO = re.compile(rf"^\s*(?:这|那)?(?:两|二)(?:个|种|者|类|项)?(?=[{CJK_CHARS}])|^\s*both\b", re.IGNORECASE)
""""这两个" / "both" right after the pair: it counts the pair, and goes when the pair is split."""
_PLURAL = re.compile(r"它们|他们|她们|\b(?:they|them)\b", re.IGNORECASE)


def _coordination(text: str) -> tuple[str, str, int, int] | None:
    """The last "X 和 Y" / "X and Y" in ``text``: ``(x, y, start, end)``. Chinese has no spaces to end Y
    at: Y parallel to a Chinese X is as long as X ("短期记忆和长期记忆通常…")."""
    zh = bool(CJK.search(text))
    found = list((_PAIR_ZH if zh else _PAIR_EN).finditer(text))
    if not found:
        return None
    m = found[-1]
    x, y = m.group(1).strip(), m.group(2).strip()
    if zh and CJK.search(y) and len(y) > len(x) and CJK.search(x):
        y = y[: len(x)]
    return x, y, m.start(), m.start(2) + len(y)


def _pair(question: str) -> list[str]:
    """``[question about X, question about Y]`` for "X 和 Y 分别…" / "X and Y … respectively", else []."""
    zh = bool(CJK.search(question))
    each = (_EACH_ZH if zh else _EACH_EN).search(question)
    found = _coordination(question[: each.start()]) if each else None
    if not found:
        return []
    x, y, start, end = found
    out = []
    for term in (x, y):
        text = question[:start] + term + _THESE_TWO.sub("", question[end:])
        text = (_EACH_ZH if zh else _EACH_EN).sub("", text, count=1)
        out.append(re.sub(r"\s+([?？,，])", r"\1", re.sub(r"\s{2,}", " ", text)).strip())
    return out


@dataclass(frozen=True)
class Part:
    """One part of a several-part question."""

    question: str
    """The part as a question that stands alone: what the model is asked."""
    search: str
    """What retrieval searches with: the part, and for a part that leans on the one before it (a pronoun, a
    subject left out) that part too, which says where to look ("LLM 的三条发展方向里，T5 属于什么结构？")."""


def decompose(question: str) -> list[Part]:
    """The question's parts, each standing alone, or [] when it asks one thing (or cannot be split)."""
    parts = sub_questions(question)
    if not parts:
        return [Part(p, p) for p in _pair(question)]
    out: list[Part] = []
    for i, part in enumerate(parts):
        own = part
        pair = _coordination(parts[i - 1]) if i else None
        if pair and _PLURAL.search(part):  # "X 和 Y …？它们各自…？": the pronoun stands for the pair
            part = _PLURAL.sub(parts[i - 1][pair[2] : pair[3]], part, count=1)
        elif i and BACK_REFERENCE.search(part) and not names(parts[i - 1]):
            return []  # asks about the previous part's answer
        elif i and not names(part):
            filled = standalone(part, [(parts[i - 1], "")])
            if filled == part and (subject := subject_of(parts[i - 1])) and subject not in part:
                filled = f"{subject} {part}" if subject.isascii() else f"{subject}{part}"
            part = filled
        search = part if part == own else f"{parts[i - 1]} {part}"
        out.extend(Part(p, search if p == part else p) for p in (_pair(part) or [part]))
    return out if 1 < len(out) <= MAX_PARTS else []
