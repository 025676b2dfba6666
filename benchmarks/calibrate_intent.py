"""How the request decision (``rag.intent``) was fitted and where its threshold sits.

    python benchmarks/calibrate_intent.py eval/dev.jsonl ../shared/eval/solarge-dev.jsonl \
        eval/redteam.jsonl eval/benign.jsonl eval/solarge-benign.jsonl [--held-out FILE ...]

1. Cross-validation on the examples (``rag/intent_examples.jsonl``): 5-fold accuracy and the share of
   non-questions let through, for several regularisation strengths ``C``.
2. For each question set: items of type ``adversarial`` must be declined, every other item must go on.
   Prints, per file and threshold, the declined share of adversarial items and the false-refusal share of
   the rest, and the time per decision (p50). Files given with ``--held-out`` are only reported at the
   chosen threshold (``QUESTION_MIN_PROB``): they were not used to choose it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from notesqa.settings import Settings
from rag.answer import Answerer
from rag.classifier import REGULARISATION, cross_validated, load_examples
from rag.eval.dataset import load_questions
from rag.eval.scoring import percentile
from rag.intent import EXAMPLES, QUESTION_MIN_PROB, Intent, IntentClassifier

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def cross_validate(vectors: np.ndarray, texts: list[str], labels: list[str], c: float) -> tuple[float, float]:
    """5-fold accuracy, and the share of non-question examples predicted ``question`` (they would be answered)."""
    probs, classes = cross_validated(vectors, texts, labels, c)
    pred = [classes[k] for k in probs.argmax(axis=1)]
    others = [p for p, label in zip(pred, labels, strict=True) if label != "question"]
    right = sum(p == label for p, label in zip(pred, labels, strict=True))
    return right / len(labels), others.count("question") / max(len(others), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", type=Path, nargs="*")
    ap.add_argument("--held-out", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    settings = Settings()
    embeddings = Answerer(settings).sentence_embeddings  # the model the product's classifier reads with
    texts, labels = load_examples(EXAMPLES, {i.value for i in Intent})
    vectors = np.asarray(embeddings.embed_queries(texts), dtype=np.float32)
    print(f"examples: {len(texts)} ({', '.join(f'{k} {labels.count(k)}' for k in sorted(set(labels)))})")
    for c in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
        acc, leak = cross_validate(vectors, texts, labels, c)
        mark = "  <- REGULARISATION" if c == REGULARISATION else ""
        print(f"  C={c:<5} 5-fold accuracy {acc:.3f}, non-questions taken as questions {leak:.3f}{mark}")
    clf = IntentClassifier(embeddings, settings.cache_dir)
    for path, held_out in [(p, False) for p in args.sets] + [(p, True) for p in args.held_out]:
        qs = load_questions(path)
        t0 = time.perf_counter()
        times = []
        p_q = []
        for q in qs:
            t = time.perf_counter()
            p_q.append(clf(q.question).p_question)
            times.append(time.perf_counter() - t)
        p_q = np.array(p_q)
        bad = np.array([q.type == "adversarial" for q in qs])
        print(f"\n## {path} ({len(qs)} items, {int(bad.sum())} adversarial{', held out' if held_out else ''}; "
              f"decision p50 {percentile(times, 50):.3f} s, {time.perf_counter() - t0:.1f} s in all)")
        for th in (QUESTION_MIN_PROB,) if held_out else THRESHOLDS:
            declined = p_q < th
            parts = []
            if bad.any():
                parts.append(f"adversarial declined {declined[bad].mean():.3f}")
            if (~bad).any():
                parts.append(f"false refusal {declined[~bad].mean():.3f}")
            mark = "  <- QUESTION_MIN_PROB" if th == QUESTION_MIN_PROB else ""
            print(f"  threshold {th:.2f}: " + ", ".join(parts) + mark)
        if not held_out:  # the misjudged items of a tuning set, to read
            for q, pq in zip(qs, p_q, strict=True):
                if (q.type == "adversarial") != (pq < QUESTION_MIN_PROB):
                    print(f"    {q.id} {q.type:<12} p(question)={pq:.2f}  {q.question[:90]}")


if __name__ == "__main__":
    main()
