"""Sweep retrieval settings on a question set and print hit@k / MRR per setting (how defaults were chosen).

    python benchmarks/retrieval_sweep.py eval/dev.jsonl [--chunk-sizes 120,160,240]

Chunk sizes re-ingest the default corpus into temporary index folders (embedding is the slow part);
fusion settings reuse one loaded index.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from ingest.pipeline import ingest
from notesqa.settings import Settings
from rag.eval.dataset import load_questions
from rag.eval.scoring import RetrievalEvaluator
from rag.retrieve import IndexHandle


def sweep_fusion(settings: Settings, questions_path: Path) -> list[dict[str, object]]:
    questions = load_questions(questions_path)
    retriever = IndexHandle(settings).retriever()
    evaluator = RetrievalEvaluator()
    dense = {q.id: retriever.dense(q.question, 50) for q in questions}
    sparse = {q.id: retriever.bm25(q.question, 50) for q in questions}
    rows = []
    for rrf_k, bm25_w, cand in itertools.product((10, 30, 60), (0.5, 1.0, 1.5, 2.0), (10, 30, 50)):
        from rag.retrieve import rrf

        rankings = []
        for q in questions:
            fused = rrf([([i for i, _ in dense[q.id][:cand]], 1.0), ([i for i, _ in sparse[q.id][:cand]], bm25_w)],
                        rrf_k)
            ids = sorted(fused, key=lambda i: -fused[i])[:10]
            rankings.append([retriever.index.chunks[i].text for i in ids])
        m = evaluator(questions, rankings)
        rows.append({"rrf_k": rrf_k, "bm25_weight": bm25_w, "candidate_k": cand, **m})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("questions", type=Path)
    ap.add_argument("--chunk-sizes", default="", help="comma-separated chunk_target_tokens to try")
    args = ap.parse_args()
    keys = ["hit@1", "hit@3", "hit@5", "mrr", "all_evidence@5"]
    sizes = [int(s) for s in args.chunk_sizes.split(",") if s]
    configs: list[tuple[str, Settings]] = []
    if sizes:
        tmp = Path(tempfile.mkdtemp(prefix="notesqa-sweep-"))
        for size in sizes:
            s = Settings(chunk_target_tokens=size, index_dir=tmp / f"t{size}")
            report = ingest(s)
            print(f"# chunk_target_tokens={size}: {report.chunks_total} chunks")
            configs.append((f"target={size}", s))
    else:
        configs.append(("default", Settings()))
    for name, s in configs:
        rows = sweep_fusion(s, args.questions)
        rows.sort(key=lambda r: (-(r["mrr"] or 0), -(r["hit@5"] or 0)))
        print(f"## {name}: best 8 fusion settings (default rrf_k={s.rrf_k}, bm25_weight={s.bm25_weight}, "
              f"candidate_k={s.candidate_k})")
        print("rrf_k bm25_w cand " + " ".join(f"{k:>8}" for k in keys))
        default = next(r for r in rows if (r["rrf_k"], r["bm25_weight"], r["candidate_k"]) ==
                       (s.rrf_k, s.bm25_weight, s.candidate_k))
        for r in [*rows[:8], default]:
            print(f"{r['rrf_k']:>5} {r['bm25_weight']:>6} {r['candidate_k']:>4} "
                  + " ".join(f"{r[k]:>8.3f}" for k in keys))


if __name__ == "__main__":
    main()
