"""Fit the answerability decision (``rag.answerability``) and print the curve its operating point is chosen on.

    NOTESQA_ANSWERABILITY_MIN=0 notesqa eval <questions> --index <idx> --out <dir>     # every answer shown
    python benchmarks/fit_answerability.py \\
        --data default eval/dev.jsonl <dir> --data default eval/benign.jsonl <dir> \\
        --data so-large-lm <so-large-lm dev set> <dir> --data so-large-lm eval/solarge-benign.jsonl <dir>

Each row of a run made with ``answerability_min = 0`` carries the decision's signals; its label is whether the
answer shown was right (an answerable question whose keywords are all in the answer) or not (a wrong answer,
or any answer to an unanswerable question). Rows the system declined before the decision (the request
decision, a model that said the passages do not answer, an echo) are declined at every threshold and count
in the curve, not in the fit. A several-part question counts in the curve only: it abstains when every
part falls below the threshold, and is right only when it was right and no part fell below it.

The script fits a logistic regression on all rows, and on each corpus alone tested on the other (the
cross-corpus AUC says whether the signals mean the same on notes they were not fitted on), then prints, per
corpus and threshold: answer correct, false refusal (answerable questions abstained), unanswerable
abstained, wrong answers shown (to answerable or unanswerable questions) and the utility: right answers plus
abstentions on unanswerable questions minus wrong answers shown (a refusal of an answerable question counts
0: no help, but nothing false). The operating point is the middle of the first run of thresholds with the
highest utility over both corpora, so that it is not on the edge of a plateau. ``--weights`` prints the
Python constants to paste into ``rag/answerability.py``; ``--current`` reads the same rows with the weights
already there instead of fitting, so a refit can be compared with the decision it would replace. Questions
below the dense floor (``abstain_dense_min_zh`` / ``_en``) are abstained before any of this and are not in
the fit.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from rag.answerability import BIAS, WEIGHTS, Signals, probability
from rag.eval.dataset import load_questions
from rag.eval.scoring import judge

REGULARISATION = 1.0
"""Inverse regularisation ``C`` of the fit: the data is ~100 answers, so the weights are kept small."""

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(17))


def rows(specs: list[list[str]]) -> list[dict[str, Any]]:
    """One record per question: corpus, type, whether it is answerable, right when shown, and its parts'
    signals (empty when it was declined before the decision)."""
    out = []
    for corpus, questions, results in specs:
        qs = {q.id: q for q in load_questions(Path(questions))}
        for line in (Path(results) / "results.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            q = qs[r["id"]]
            if q.type == "adversarial":
                continue
            a = r.get("answerability") or {}
            parts = a.get("parts", [a]) if a else []
            decided = not r["abstained"] and all(p.get("stage") == "after model" for p in parts) and parts
            out.append({"corpus": corpus, "id": q.id, "type": q.type, "answerable": q.answerable,
                        "right": bool(judge(q, r).get("correct")), "several": len(parts) > 1,
                        "signals": [Signals(**p["signals"]).vector() for p in parts] if decided else []})
    return out


def fit(data: list[dict[str, Any]]) -> Any:
    """A logistic regression on the standardised signals (so that one regularisation suits signals of
    different spread: cosines vary by a few hundredths, shares by tenths), returned with its weights
    mapped back onto the raw signals, as ``rag.answerability`` reads them."""
    from sklearn.linear_model import LogisticRegression

    single = [d for d in data if d["signals"] and not d["several"]]
    x = np.array([d["signals"][0] for d in single])
    y = np.array([d["right"] for d in single])
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=REGULARISATION, max_iter=1000).fit((x - mean) / std, y)
    model.coef_ = model.coef_ / std
    model.intercept_ = model.intercept_ - (model.coef_ * mean).sum(axis=1)
    return model


class Current:
    """The weights in ``rag/answerability.py`` as they are, read like a fitted model: to compare a new fit
    with the decision it would replace on the same answers."""

    coef_ = np.array([[WEIGHTS[n] for n in Signals.names()]])
    intercept_ = np.array([BIAS])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.array([probability(Signals(*row)) for row in np.atleast_2d(x)])
        return np.column_stack([1 - p, p])


def auc(model: Any, data: list[dict[str, Any]]) -> float:
    from sklearn.metrics import roc_auc_score

    single = [d for d in data if d["signals"] and not d["several"]]
    y = [d["right"] for d in single]
    if len(set(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, model.predict_proba(np.array([d["signals"][0] for d in single]))[:, 1]))


def curve(model: Any, data: list[dict[str, Any]]) -> list[dict[str, float]]:
    out = []
    for t in THRESHOLDS:
        right, refused, abstained_un, wrong = [], [], [], []
        for d in data:
            ps = model.predict_proba(np.array(d["signals"]))[:, 1] if d["signals"] else np.array([])
            shown = bool((ps >= t).any()) if d["signals"] else False
            is_right = shown and d["right"] and bool((ps >= t).all())
            if d["answerable"]:
                right.append(is_right)
                refused.append(not shown)
            else:
                abstained_un.append(not shown)
            wrong.append(shown and not is_right)
        out.append({"threshold": t, "correct": float(np.mean(right)), "false_refusal": float(np.mean(refused)),
                    "unanswerable_abstain": float(np.mean(abstained_un)) if abstained_un else float("nan"),
                    "wrong_shown": int(sum(wrong)),
                    "utility": int(sum(right) + sum(abstained_un) - sum(wrong))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs=3, action="append", metavar=("CORPUS", "QUESTIONS", "RESULTS_DIR"),
                    required=True)
    ap.add_argument("--weights", action="store_true", help="print the fitted constants")
    ap.add_argument("--current", action="store_true",
                    help="read the answers with the weights in rag/answerability.py instead of fitting new ones")
    ap.add_argument("--without", nargs="*", default=[], choices=Signals.names(),
                    help="signals left out of the fit (weight 0)")
    args = ap.parse_args()
    data = rows(args.data)
    dropped = [Signals.names().index(n) for n in args.without]
    for d in data:
        d["signals"] = [[0.0 if i in dropped else v for i, v in enumerate(x)] for x in d["signals"]]
    by_corpus: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in data:
        by_corpus[d["corpus"]].append(d)
    names = Signals.names()
    model = Current() if args.current else fit(data)
    weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(names, model.coef_[0], strict=True))
    print("current weights:" if args.current else "fitted on all rows:", weights,
          f"bias {model.intercept_[0]:+.2f}")
    for corpus, part in by_corpus.items():
        single = [d for d in part if d["signals"] and not d["several"]]
        print(f"{corpus}: {len(part)} questions, {len(single)} single-part answers to fit on "
              f"({sum(d['right'] for d in single)} right); AUC of the pooled fit {auc(model, part):.3f}")
    for train, test in [(a, b) for a in by_corpus for b in by_corpus if a != b and not args.current]:
        m = fit(by_corpus[train])
        print(f"fitted on {train}, tested on {test}: AUC {auc(m, by_corpus[test]):.3f}")
    for corpus, part in by_corpus.items():
        print(f"\n{corpus} (pooled fit): threshold | correct | false refusal | unanswerable abstain | wrong "
              "answers shown | utility")
        for c in curve(model, part):
            print(f"  {c['threshold']:.2f} | {c['correct']:.3f} | {c['false_refusal']:.3f} | "
                  f"{c['unanswerable_abstain']:.3f} | {c['wrong_shown']} | {c['utility']}")
    pooled = curve(model, data)
    top = max(c["utility"] for c in pooled)
    first = next(i for i, c in enumerate(pooled) if c["utility"] == top)
    run = pooled[first:]
    run = run[: next((i for i, c in enumerate(run) if c["utility"] < top), len(run))]
    best = run[(len(run) - 1) // 2]  # the middle of the first run of best thresholds: not on its edge
    utilities = ", ".join(f"{c['threshold']:.2f}: {c['utility']}" for c in pooled)
    print(f"\nboth corpora, utility by threshold: {utilities}")
    print(f"operating point (the middle of the first run of thresholds with the highest utility over both "
          f"corpora, {run[0]['threshold']:.2f}-{run[-1]['threshold']:.2f}): {best['threshold']:.2f}")
    if args.weights:
        print("\nWEIGHTS = {" + ", ".join(f'"{n}": {w:.3f}' for n, w in zip(names, model.coef_[0], strict=True))
              + "}")
        print(f"BIAS = {model.intercept_[0]:.3f}")


if __name__ == "__main__":
    main()
