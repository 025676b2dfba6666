"""How the retrieval gate thresholds were chosen: best dense similarity per dev question, by language.

    python benchmarks/calibrate_gate.py eval/dev.jsonl [--margin 0.05]

Rule: per language, the threshold is the lowest best-similarity among answerable questions minus a margin,
so no answerable dev question is gated; anything below it is answered with the abstain phrase without
calling the model. Unanswerable questions above it are left to the later checks (names, grounding).
The margin is 0.05: with 0.02, answerable questions of our own held-out set (eval/heldout.jsonl) scored
up to 2.4 points under dev's lowest and were refused; e5's scores are compressed (off-topic Chinese
questions score 0.82-0.87), so the gate is only a floor and the later checks carry the decision.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from notesqa.settings import Settings
from notesqa.text import language
from rag.eval.dataset import load_questions
from rag.retrieve import IndexHandle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("questions", type=Path)
    ap.add_argument("--margin", type=float, default=0.05)
    args = ap.parse_args()
    settings = Settings()
    retriever = IndexHandle(settings).retriever()
    rows = []
    for q in load_questions(args.questions):
        top = retriever.dense(q.question, 1)
        rows.append((language(q.question), q.type, top[0][1] if top else 0.0, q.id))
    for lang in ("zh", "en"):
        mine = sorted((r for r in rows if r[0] == lang), key=lambda r: r[2])
        answerable = [r[2] for r in mine if r[1] not in ("unanswerable", "adversarial")]
        print(f"## {lang}: " + "  ".join(f"{qid}:{t[:5]}:{s:.3f}" for _, t, s, qid in mine))
        if answerable:
            threshold = min(answerable) - args.margin
            current = settings.abstain_dense_min_zh if lang == "zh" else settings.abstain_dense_min_en
            print(f"   lowest answerable {min(answerable):.3f} -> threshold {threshold:.3f} (setting: {current})")


if __name__ == "__main__":
    main()
