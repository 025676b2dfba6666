"""Where the answer-genre check (``rag.genre``) refuses: its probability on real answers and on examples.

    python benchmarks/calibrate_genre.py RUN_DIR [RUN_DIR ...]

1. 5-fold cross-validation on ``rag/genre_examples.jsonl``.
2. ``P(composed)`` of every answer (not abstained) in the ``results.jsonl`` of eval runs: on answerable
   questions a refusal is a false refusal; answers to adversarial items are listed, to read.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from notesqa.settings import Settings
from rag.answer import Answerer
from rag.classifier import cross_validated, load_examples
from rag.genre import COMPOSED_MIN_PROB, EXAMPLES, GenreCheck


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="*")
    args = ap.parse_args()
    settings = Settings()
    embeddings = Answerer(settings).sentence_embeddings  # the model the product's classifier reads with
    texts, labels = load_examples(EXAMPLES, {"statement", "composed"})
    vectors = np.asarray(embeddings.embed_queries(texts), dtype=np.float32)
    probs, classes = cross_validated(vectors, texts, labels)
    p = probs[:, classes.index("composed")]
    composed = np.array([lab == "composed" for lab in labels])
    for th in (0.5, 0.6, 0.7, 0.8, 0.9):
        print(f"examples, 5-fold, threshold {th}: composed caught {(p[composed] >= th).mean():.3f}, "
              f"statements refused {(p[~composed] >= th).mean():.3f}")
    check = GenreCheck(embeddings, settings.cache_dir)
    for run in args.runs:
        rows = [json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        scored = [(check(re.sub(r"\s*\[\d+\]", "", r["answer"])).p_composed, r) for r in rows if not r["abstained"]]
        print(f"\n## {run}: {len(scored)} answers; P(composed) max {max((s for s, _ in scored), default=0):.2f}; "
              f"refused at {COMPOSED_MIN_PROB}: {sum(s >= COMPOSED_MIN_PROB for s, _ in scored)}")
        for s, r in sorted(scored, key=lambda x: -x[0])[:5]:
            print(f"  {s:.2f} {r['id']} {r['answer'][:100]!r}")


if __name__ == "__main__":
    main()
