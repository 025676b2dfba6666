"""The HTML report of an eval run: headline cards, failures, charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.eval.dataset import Evidence, Question
from rag.eval.report import write_html
from rag.eval.scoring import aggregate, hit_curve, judge

CHUNK = {"source": "a.md", "chunk_id": "c1", "text": "数据和模型规模:1.3 B 的参数", "score": 1.0}
QUESTIONS = [
    Question("q1", "Kosmos-1 有多少参数?", "zh", "fact", "1.3B", ("1.3",), (Evidence("a.md", "1.3 B 的参数"),)),
    Question("q2", "今天天气怎么样?", "zh", "unanswerable"),
]
RESULTS: list[dict[str, Any]] = [
    {"id": "q1", "question": QUESTIONS[0].question, "answer": "2.6 B 的参数 [1]", "reasoning": "段落[1]说…",
     "abstained": False, "citations": [CHUNK], "retrieved": [CHUNK], "first_output_s": 1.5,
     "latency_s": {"retrieve": 0.01, "generate": 3.0, "total": 3.2, "first_token": 2.5},
     "usage": {"prompt_tokens": 700}},
    {"id": "q2", "question": QUESTIONS[1].question, "answer": "笔记里没有找到这个问题的答案。", "reasoning": "",
     "abstained": True, "citations": [], "retrieved": [], "first_output_s": None,
     "latency_s": {"retrieve": 0.01, "generate": None, "total": 0.02, "first_token": None}, "usage": {}},
]


def test_the_report_shows_both_first_token_figures_the_warm_up_and_the_failures(tmp_path: Path) -> None:
    judged = [judge(q, r) for q, r in zip(QUESTIONS, RESULTS, strict=True)]
    report = {
        "questions": "dev.jsonl", "mode": "full", "settings": {"llm": "model.gguf"}, "seconds": 5.0,
        "warm_up_s": 9.5, "overall": aggregate(judged, RESULTS),
        "by_type": {"fact": aggregate(judged[:1], RESULTS[:1]), "unanswerable": aggregate(judged[1:], RESULTS[1:])},
        "by_lang": {"zh": aggregate(judged, RESULTS)},
        "hit_curve": {"hybrid": hit_curve(QUESTIONS, [[c["text"] for c in r["retrieved"]] for r in RESULTS])},
        "per_question": judged,
    }
    write_html(report, QUESTIONS, RESULTS, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "p50 first token, reasoning" in page and "p50 first answer token" in page
    assert "models loaded first: 9.5 s" in page
    assert "2.6 B 的参数" in page  # the wrong answer is listed among the failures ...
    assert "answered instead of declining" not in page  # ... the correct abstention is not
    assert page.count("<img") >= 2  # charts are embedded, the page stands alone
