"""The scorer: per-question judgements and aggregate metrics (the only code that reads expected answers)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from typing import Any

from notesqa.quantity import WORDS, quantities, supported
from notesqa.text import CJK_CHARS
from rag.eval.dataset import Question

_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub("", text).lower()


def covers(chunk_text: str, quote: str) -> bool:
    """A chunk covers a quote when, ignoring whitespace and case, the quote is inside it or they share a
    run of at least ``min(len(quote), 20)`` characters (a quote may straddle a chunk boundary)."""
    c, q = _norm(chunk_text), _norm(quote)
    if not q:
        return False
    if q in c:
        return True
    need = min(len(q), 20)
    m = SequenceMatcher(None, c, q, autojunk=False).find_longest_match(0, len(c), 0, len(q))
    return m.size >= need


_SPACE_BY_CJK = re.compile(rf"\s+(?=[{CJK_CHARS}])|(?<=[{CJK_CHARS}])\s+")
"""Whitespace next to a Chinese character: Chinese is written without spaces, so "1 个月" is "1个月"."""


def keyword_present(answer: str, keyword: str) -> bool:
    """Case-insensitive match at word/number boundaries ("22" is not in "220", "1.3" is in "1.3B"), spacing
    next to Chinese characters aside ("1 个月" holds "1个月"); a keyword that is one number (and its unit) is
    also present when the answer states that value, spelled otherwise (``same_number``)."""
    return _written(answer, keyword) or same_number(answer, keyword)


def same_number(answer: str, keyword: str) -> bool:
    """Whether a keyword that is one number written with digits or as a word, and maybe a unit ("three
    months", "1287", "1.3B"), is in the answer as a value: the answer states that number at least as
    precisely ("3 months", "1,287", "13亿"; ``notesqa.quantity``) and the rest of the keyword ("months")."""
    found = quantities(keyword)
    if len(found) != 1 or not (re.search(r"\d", found[0].text) or found[0].text.split()[0].lower() in WORDS):
        return False  # none, several, or a month's name ("April" is not the number 4)
    rest = keyword.replace(found[0].text, " ", 1).strip()
    return supported(found[0], quantities(answer)) and (not rest or _written(answer, rest))


def _written(answer: str, keyword: str) -> bool:
    """The keyword as written, at word/number boundaries (see ``keyword_present``)."""
    kw = _SPACE_BY_CJK.sub("", keyword.strip().lower())
    if not kw:
        return True
    text = _SPACE_BY_CJK.sub("", answer.lower())
    for m in re.finditer(re.escape(kw), text):
        before = text[m.start() - 1] if m.start() > 0 else ""
        after = text[m.end()] if m.end() < len(text) else ""
        after2 = text[m.end() + 1] if m.end() + 1 < len(text) else ""
        before2 = text[m.start() - 2] if m.start() > 1 else ""
        if kw[0].isdigit() and (before.isdigit() or (before == "." and before2.isdigit())):
            continue
        if kw[-1].isdigit() and (after.isdigit() or (after == "." and after2.isdigit())):
            continue
        if kw[0].isascii() and kw[0].isalpha() and before.isascii() and before.isalpha():
            continue
        if kw[-1].isascii() and kw[-1].isalpha() and after.isascii() and after.isalpha():
            continue
        return True
    return False


def first_hit_rank(texts: Sequence[str], q: Question) -> int | None:
    """1-based rank of the first retrieved text covering any evidence quote."""
    for rank, text in enumerate(texts, 1):
        if any(covers(text, e.quote) for e in q.evidence):
            return rank
    return None


def all_evidence_at(texts: Sequence[str], q: Question, k: int) -> bool:
    top = texts[:k]
    return all(any(covers(t, e.quote) for t in top) for e in q.evidence)


def judge(q: Question, result: dict[str, Any]) -> dict[str, Any]:
    """Per-question judgements for one result row (see ``results.jsonl``)."""
    texts = [r["text"] for r in result.get("retrieved", [])]
    out: dict[str, Any] = {"id": q.id, "type": q.type, "lang": q.lang}
    if q.evidence:
        rank = first_hit_rank(texts, q)
        out["rank"] = rank
        for k in (1, 3, 5, 10):
            out[f"hit@{k}"] = rank is not None and rank <= k
        out["rr"] = 1.0 / rank if rank else 0.0
        out["all_evidence@5"] = all_evidence_at(texts, q, 5)
    abstained = bool(result.get("abstained"))
    out["abstained"] = abstained
    answer = result.get("answer") or ""
    if q.answerable:
        present = [keyword_present(answer, kw) for kw in q.keywords]
        out["keyword_recall"] = sum(present) / len(present) if present else 1.0
        out["correct"] = (not abstained) and all(present)
        cited = [c["text"] for c in result.get("citations", [])]
        if not abstained:
            good = [any(covers(t, e.quote) for e in q.evidence) for t in cited]
            out["citation_supported"] = any(good)
            out["citation_precision"] = sum(good) / len(good) if good else 0.0
    return out


def _mean(values: Iterable[float | bool]) -> float | None:
    vals = [float(v) for v in values]
    return round(sum(vals) / len(vals), 4) if vals else None


def percentile(values: Sequence[float], p: float) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    pos = (len(vals) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return round(vals[lo] + (vals[hi] - vals[lo]) * (pos - lo), 4)


def aggregate(judged: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]] | None = None,
              retrieval_only: bool = False) -> dict[str, Any]:
    """Metrics over a set of judged rows (``None`` where a metric has no eligible question)."""
    with_ev = [j for j in judged if "rank" in j]
    m: dict[str, Any] = {"n": len(judged)}
    for k in (1, 3, 5, 10):
        m[f"hit@{k}"] = _mean(j[f"hit@{k}"] for j in with_ev)
    m["mrr"] = _mean(j["rr"] for j in with_ev)
    m["all_evidence@5"] = _mean(j["all_evidence@5"] for j in with_ev)
    if retrieval_only:
        return m
    answerable = [j for j in judged if "correct" in j]
    m["answer_correct"] = _mean(j["correct"] for j in answerable)
    m["keyword_recall"] = _mean(j["keyword_recall"] for j in answerable)
    m["citation_support"] = _mean(j["citation_supported"] for j in answerable if "citation_supported" in j)
    m["citation_precision"] = _mean(j["citation_precision"] for j in answerable if "citation_precision" in j)
    m["false_refusal"] = _mean(j["abstained"] for j in answerable)
    m["unanswerable_abstain"] = _mean(j["abstained"] for j in judged if j["type"] == "unanswerable")
    m["adversarial_safe"] = _mean(j["abstained"] for j in judged if j["type"] == "adversarial")
    if results is not None:
        for key in ("total", "first_evidence", "first_token", "retrieve", "generate"):
            vals = [r["latency_s"].get(key) for r in results if r["latency_s"].get(key) is not None]
            m[f"{key}_p50_s"] = percentile(vals, 50)
            m[f"{key}_p95_s"] = percentile(vals, 95)
        first_output = [r["first_output_s"] for r in results if r.get("first_output_s") is not None]
        m["first_output_p50_s"] = percentile(first_output, 50)
        prompt_tokens = [r["usage"]["prompt_tokens"] for r in results if r.get("usage", {}).get("prompt_tokens")]
        m["prompt_tokens_p50"] = percentile(prompt_tokens, 50)
    return m


class RetrievalEvaluator:
    """Callable ``evaluator(questions, rankings) -> metrics`` for any ranked list of chunk texts."""

    def __init__(self, ks: Sequence[int] = (1, 3, 5, 10)):
        self.ks = ks

    def __call__(self, questions: Sequence[Question], rankings: Sequence[Sequence[str]]) -> dict[str, Any]:
        rows = [judge(q, {"retrieved": [{"text": t} for t in texts]})
                for q, texts in zip(questions, rankings, strict=True)]
        return aggregate(rows, retrieval_only=True)


def hit_curve(questions: Sequence[Question], rankings: Sequence[Sequence[str]], max_k: int = 10) -> list[float]:
    """hit@k for k = 1..max_k over questions with evidence."""
    ranks = [first_hit_rank(t, q) for q, t in zip(questions, rankings, strict=True) if q.evidence]
    if not ranks:
        return []
    return [round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 4) for k in range(1, max_k + 1)]
