"""Embedding throughput of the default corpus (chunks/s) and incremental re-ingest time. Prints figures.

    python benchmarks/embed_throughput.py [--repeats 3] [--corpus corpus]

Full rebuilds run into a temporary index; the model is loaded once beforehand, so the figure is the
embedding + index writing work of an ingest, not interpreter or model start-up (reported separately).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ingest.embeddings import get_embeddings
from ingest.pipeline import ingest
from notesqa.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="notesqa-bench-"))
    t0 = time.perf_counter()
    settings = Settings(corpus_dir=args.corpus, index_dir=tmp / "index")
    emb = get_embeddings(settings)
    emb.embed_query("warm up")
    load_s = time.perf_counter() - t0
    rates, seconds = [], []
    chunks = 0
    for _ in range(args.repeats):
        report = ingest(settings, rebuild=True)
        chunks = report.chunks_embedded
        rates.append(report.chunks_embedded / report.seconds)
        seconds.append(report.seconds)
    unchanged = []
    for _ in range(args.repeats):
        unchanged.append(ingest(settings).seconds)
    out = {
        "chunks": chunks,
        "model_load_s": round(load_s, 2),
        "rebuild_s_median": round(statistics.median(seconds), 2),
        "chunks_per_s_median": round(statistics.median(rates), 2),
        "chunks_per_s_all": [round(r, 2) for r in rates],
        "unchanged_reingest_s_median": round(statistics.median(unchanged), 3),
        "threads": settings.threads,
    }
    print(json.dumps(out))
    print(f"{chunks} chunks · {out['chunks_per_s_median']} chunks/s (median of {args.repeats} rebuilds) · "
          f"unchanged re-ingest {out['unchanged_reingest_s_median']} s · model load {out['model_load_s']} s")


if __name__ == "__main__":
    main()
