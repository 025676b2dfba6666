"""Self-contained HTML reports (headline numbers, matplotlib charts, failure table) for one or more runs."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.eval.dataset import Question

HEADLINE = [
    ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"), ("all_evidence@5", "all evidence@5"),
    ("answer_correct", "answer correct"), ("citation_support", "citation support"),
    ("unanswerable_abstain", "abstain (unanswerable)"), ("false_refusal", "false refusal"),
    ("adversarial_safe", "adversarial safe"), ("first_evidence_p50_s", "p50 first evidence (s)"),
    ("first_output_p50_s", "p50 first token, reasoning (s)"),
    ("first_token_p50_s", "p50 first answer token (s)"),
    ("total_p50_s", "p50 total (s)"),
]
LOWER_IS_BETTER = {"false_refusal", "first_evidence_p50_s", "first_output_p50_s", "first_token_p50_s", "total_p50_s"}

CSS = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:2rem auto;
max-width:1100px;color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#656d76;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:.6rem .9rem;min-width:120px}
.card .v{font-size:1.6rem;font-weight:600} .card .k{color:#656d76;font-size:.8rem}
.good{color:#1a7f37} .bad{color:#cf222e} .mid{color:#9a6700}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem} .plots img{max-width:520px;width:100%;border:1px solid #eee}
details{margin:.2rem 0} code{font-size:.8rem}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) >= 10 else f"{v:.3f}".rstrip("0").rstrip(".") if v else "0"
    return html.escape(str(v))


def _tone(key: str, v: Any) -> str:
    if not isinstance(v, int | float) or key.endswith("_s"):
        return ""
    good = v <= 0.05 if key in LOWER_IS_BETTER else v >= 0.85
    bad = v >= 0.2 if key in LOWER_IS_BETTER else v < 0.6
    return "good" if good else "bad" if bad else "mid"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bar_groups(groups: dict[str, dict[str, Any]], metrics: Sequence[str], title: str) -> str:
    plt = _plt()
    names = list(groups)
    metrics = [m for m in metrics if any(groups[g].get(m) is not None for g in names)]
    if not names or not metrics:
        return ""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    width = 0.8 / len(metrics)
    for i, m in enumerate(metrics):
        vals = [groups[g].get(m) or 0 for g in names]
        ax.bar([x + i * width for x in range(len(names))], vals, width, label=m)
    ax.set_xticks([x + width * (len(metrics) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=7, ncols=min(4, len(metrics)))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _curve(curves: dict[str, list[float]]) -> str:
    plt = _plt()
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return ""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for name, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, marker="o", label=name)
    ax.set_xlabel("k")
    ax.set_ylabel("hit@k")
    ax.set_ylim(0, 1.05)
    ax.set_title("hit@k: share of questions with evidence in the top k")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _latency(results: Sequence[dict[str, Any]]) -> str:
    plt = _plt()
    labels = {"first_token": "first answer token", "total": "total"}
    series = {label: [r["latency_s"][k] for r in results if r["latency_s"].get(k) is not None]
              for k, label in labels.items()}
    series = {label: v for label, v in series.items() if v}
    if not series:
        return ""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for label, vals in series.items():
        ax.hist(vals, bins=15, alpha=0.6, label=label)
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.set_title("latency per question")
    ax.legend(fontsize=8)
    return _png(fig)


def _metric_table(rows: dict[str, dict[str, Any]], keys: Sequence[str]) -> str:
    keys = [k for k in keys if any(r.get(k) is not None for r in rows.values())]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = ""
    for name, r in rows.items():
        cells = "".join(f'<td class="num {_tone(k, r.get(k))}">{_fmt(r.get(k))}</td>' for k in keys)
        body += f"<tr><th>{html.escape(name)}</th><td class='num'>{r.get('n', '')}</td>{cells}</tr>"
    return f"<table><tr><th></th><th>n</th>{head}</tr>{body}</table>"


def _failures(report: dict[str, Any], questions: Sequence[Question], results: Sequence[dict[str, Any]]) -> str:
    judged = {j["id"]: j for j in report["per_question"]}
    retrieval_only = report["mode"] == "retrieval-only"
    rows = ""
    for q, r in zip(questions, results, strict=True):
        j = judged[q.id]
        if retrieval_only:
            failed, why = ("rank" in j and not j["hit@5"]), "evidence not in top 5"
        elif q.answerable:
            failed = not j.get("correct")
            why = "abstained" if j["abstained"] else f"keyword recall {j['keyword_recall']:.2f}"
            if not failed and not j.get("citation_supported"):
                failed, why = True, "citations do not cover the evidence"
        else:
            failed, why = not j["abstained"], "answered instead of declining"
        if not failed:
            continue
        sources = ", ".join(html.escape(x["source"]) for x in r["retrieved"][:5])
        expected = html.escape(q.answer or "(decline)") + (
            f"<br><small>keywords: {html.escape(', '.join(q.keywords))}</small>" if q.keywords else "")
        got = html.escape(r["answer"] or "") or ("<i>(retrieval only)</i>" if retrieval_only else "<i>(empty)</i>")
        reasoning = (f"<details><summary>reasoning</summary>{html.escape(r['reasoning'])}</details>"
                     if r.get("reasoning") else "")
        rank = j.get("rank")
        rows += (f"<tr><td>{html.escape(q.id)}<br><small>{q.type}/{q.lang}</small></td>"
                 f"<td>{html.escape(q.question)}</td><td>{expected}</td><td>{got}{reasoning}</td>"
                 f"<td>{html.escape(why)}<br><small>evidence rank: {rank if rank else '–'}</small></td>"
                 f"<td><small>{sources}</small></td></tr>")
    if not rows:
        return "<p class='good'>No failures.</p>"
    return ("<table><tr><th>id</th><th>question</th><th>expected</th><th>got</th><th>why</th>"
            f"<th>retrieved (top 5)</th></tr>{rows}</table>")


def write_html(report: dict[str, Any], questions: Sequence[Question], results: Sequence[dict[str, Any]],
               path: Path) -> None:
    """Write one self-contained page for a run."""
    o = report["overall"]
    cards = "".join(
        f'<div class="card"><div class="v {_tone(k, o.get(k))}">{_fmt(o.get(k))}</div>'
        f'<div class="k">{label}</div></div>'
        for k, label in HEADLINE if o.get(k) is not None
    )
    keys = [k for k, _ in HEADLINE] + ["hit@3", "keyword_recall", "citation_precision", "total_p95_s"]
    retr_rows = {"hybrid (this pipeline)": o, **report.get("baselines", {})}
    retrieval_table = _metric_table(retr_rows, ["hit@1", "hit@3", "hit@5", "hit@10", "mrr", "all_evidence@5"])
    plots = "".join(filter(None, [
        _bar_groups(report["by_type"], ["hit@5", "mrr", "answer_correct", "citation_support",
                                        "unanswerable_abstain", "adversarial_safe"], "by question type"),
        _bar_groups(report["by_lang"], ["hit@5", "mrr", "answer_correct", "citation_support"], "by language"),
        _curve(report["hit_curve"]),
        _latency(results),
    ]))
    settings = html.escape(json.dumps(report["settings"], ensure_ascii=False))
    warm = (f" (models loaded first: {report['warm_up_s']} s, prompt prefix {report.get('prefix_state') or 'read'})"
            if report.get("warm_up_s") is not None else "")
    sub = f"{html.escape(report['questions'])} · {report['mode']} · {o['n']} questions · {report['seconds']} s{warm}"
    page = f"""<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>notesqa eval – {html.escape(report['questions'])}</title><style>{CSS}</style></head><body>
<h1>notesqa evaluation</h1>
<p class="sub">{sub}</p>
<div class="cards">{cards}</div>
<h2>Retrieval</h2>{retrieval_table}
<h2>Charts</h2><div class="plots">{plots}</div>
<h2>By type</h2>{_metric_table(report['by_type'], keys)}
<h2>By language</h2>{_metric_table(report['by_lang'], keys)}
<h2>Failures</h2>{_failures(report, questions, results)}
<details><summary>settings</summary><code>{settings}</code></details>
</body></html>"""
    path.write_text(page, encoding="utf-8")


def write_compare(run_dirs: Sequence[Path], out: Path) -> dict[str, dict[str, Any]]:
    """One page putting several runs' headline metrics side by side (table + grouped bars)."""
    rows: dict[str, dict[str, Any]] = {}
    for d in run_dirs:
        report_file = Path(d) / "report.json"
        if not report_file.is_file():
            raise FileNotFoundError(f"{report_file} not found (run `notesqa eval ... --out {d}` first).")
        rep = json.loads(report_file.read_text(encoding="utf-8"))
        rows[Path(d).name] = {**rep["overall"], "llm": rep["settings"].get("llm", "–")}
    keys = [k for k, _ in HEADLINE] + ["total_p95_s"]
    chart = _bar_groups(
        {name: r for name, r in rows.items()},
        ["hit@5", "mrr", "answer_correct", "citation_support", "unanswerable_abstain", "adversarial_safe"],
        "runs side by side",
    )
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>notesqa eval comparison</title>"
            f"<style>{CSS}</style></head><body><h1>Runs compared</h1>{_metric_table(rows, keys)}"
            f"<div class='plots'>{chart}</div></body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return rows
