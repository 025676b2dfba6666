"""Run a question set through the same pipeline the chat uses; write results.jsonl and report.json/html."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from notesqa.settings import Settings
from rag.eval.dataset import Question, load_questions
from rag.eval.scoring import RetrievalEvaluator, aggregate, hit_curve, judge

RESULT_FIELDS = ("id", "question", "answer", "reasoning", "abstained", "evidence", "citations", "retrieved",
                 "latency_s", "reason", "raw_answer", "answerability", "token_p")
Tick = Callable[[int, int], None]


def _retrieval_row(q: Question, hits: Sequence[Any], seconds: float) -> dict[str, Any]:
    return {
        "id": q.id, "question": q.question, "answer": "", "reasoning": "", "abstained": False, "evidence": [],
        "citations": [],
        "retrieved": [{k: h.as_dict()[k] for k in ("source", "chunk_id", "text", "score")} for h in hits],
        "latency_s": {"retrieve": round(seconds, 4), "generate": None, "total": round(seconds, 4),
                      "first_token": None},
    }


def _r(v: float | None) -> float | None:
    return round(v, 4) if v is not None else None


def _answer_row(q: Question, ans: Any) -> dict[str, Any]:
    return {
        "id": q.id, "question": q.question, "answer": ans.answer, "reasoning": ans.reasoning,
        "abstained": ans.abstained,
        "evidence": [{"source": e.source, "chunk_id": e.chunk_id, "text": e.text} for e in ans.evidence],
        "citations": [{"source": c.source, "chunk_id": c.chunk_id, "text": c.text} for c in ans.citations],
        "retrieved": [{k: r[k] for k in ("source", "chunk_id", "text", "score")} for r in ans.retrieved],
        # first_evidence: the quotes from the notes shown before the model starts; first_token: the first
        # streamed *answer* token (the reasoning streams before it); both null when the model was not called
        # (refusals and gated abstentions appear at once)
        "latency_s": {"retrieve": _r(ans.timings.get("retrieve")), "generate": _r(ans.timings.get("generate")),
                      "total": _r(ans.timings.get("total")), "first_evidence": _r(ans.timings.get("first_evidence")),
                      "first_token": _r(ans.timings.get("first_answer_token")),
                      "doubt": _r(ans.timings.get("doubt"))},
        "first_output_s": _r(ans.timings.get("first_token")),
        "usage": ans.usage, "token_p": ans.token_p,
        # why it abstained, the model's answer before the checks, and the answerability decision's signals
        "reason": str(ans.reason), "raw_answer": ans.raw_answer, "answerability": ans.answerability,
    }


def baselines(questions: Sequence[Question], answerer: Any, k: int = 10, seed: int = 0) -> dict[str, Any]:
    """BM25-only, dense-only and random rankings over the same chunks, scored like the hybrid."""
    retriever = answerer.retriever()
    index = retriever.index
    rng = random.Random(seed)
    ranked: dict[str, list[list[str]]] = {"bm25": [], "dense": [], "random": []}
    for q in questions:
        ranked["bm25"].append([index.chunks[i].text for i, _ in retriever.bm25(q.question, k)])
        ranked["dense"].append([index.chunks[i].text for i, _ in retriever.dense(q.question, k)])
        ids = rng.sample(index.order, min(k, len(index.order)))
        ranked["random"].append([index.chunks[i].text for i in ids])
    evaluator = RetrievalEvaluator()
    return {name: {**evaluator(questions, r), "curve": hit_curve(questions, r)} for name, r in ranked.items()}


def run_eval(
    settings: Settings,
    questions_path: Path,
    out_dir: Path,
    *,
    retrieval_only: bool = False,
    limit: int | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Evaluate and write ``results.jsonl``, ``report.json`` and ``report.html`` into ``out_dir``."""
    from rag.answer import Answerer
    from rag.eval.report import write_html

    questions = load_questions(questions_path)[: limit or None]
    answerer = Answerer(settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    warm_up_s, prefix_state = None, None
    if not retrieval_only:  # as the UI does at start-up, so the first question's timings are like the rest
        prefix_state = answerer.warm_up()
        warm_up_s = round(time.perf_counter() - started, 2)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as fh:
        for n, q in enumerate(questions, 1):
            if retrieval_only:
                t0 = time.perf_counter()
                hits = answerer.retrieve(q.question, k=max(10, settings.top_k))
                row = _retrieval_row(q, hits, time.perf_counter() - t0)
            else:
                row = _answer_row(q, answerer.answer(q.question))
            results.append(row)
            fh.write(json.dumps({k: row[k] for k in RESULT_FIELDS if k in row}, ensure_ascii=False) + "\n")
            fh.flush()
            if tick:
                tick(n, len(questions))
    judged = [judge(q, r) for q, r in zip(questions, results, strict=True)]
    report: dict[str, Any] = {
        "questions": str(questions_path),
        "mode": "retrieval-only" if retrieval_only else "full",
        "settings": _settings_summary(settings, answerer, retrieval_only),
        "seconds": round(time.perf_counter() - started, 2),
        "warm_up_s": warm_up_s,
        "prefix_state": prefix_state,
        "overall": aggregate(judged, results, retrieval_only),
        "by_type": _grouped(judged, results, "type", retrieval_only),
        "by_lang": _grouped(judged, results, "lang", retrieval_only),
        "hit_curve": {"hybrid": hit_curve(questions, [[r["text"] for r in row["retrieved"]] for row in results])},
        "per_question": judged,
    }
    if retrieval_only:
        base = baselines(questions, answerer)
        report["baselines"] = {name: {k: v for k, v in m.items() if k != "curve"} for name, m in base.items()}
        report["hit_curve"].update({name: m["curve"] for name, m in base.items()})
    (out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    write_html(report, questions, results, out_dir / "report.html")
    return report


def _grouped(judged: list[dict[str, Any]], results: list[dict[str, Any]], key: str,
             retrieval_only: bool) -> dict[str, Any]:
    groups: dict[str, list[int]] = {}
    for i, j in enumerate(judged):
        groups.setdefault(j[key], []).append(i)
    return {g: aggregate([judged[i] for i in idx], [results[i] for i in idx], retrieval_only)
            for g, idx in sorted(groups.items())}


def _settings_summary(settings: Settings, answerer: Any, retrieval_only: bool) -> dict[str, Any]:
    keys = ("top_k", "candidate_k", "rrf_k", "dense_weight", "bm25_weight", "chunk_target_tokens",
            "chunk_max_tokens", "context_passages", "context_max_chars", "abstain_dense_min_zh", "abstain_dense_min_en",
            "answerability_min",
            "max_answer_tokens")
    out: dict[str, Any] = {k: getattr(settings, k) for k in keys}
    out["embed_model"] = str(settings.embed_model or "bundled multilingual-e5-small")
    if not retrieval_only:
        out["llm"] = answerer.model_name
    return out
