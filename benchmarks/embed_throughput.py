"""Embedding throughput of the default corpus (chunks/s) and incremental re-ingest time, per embedding backend.

    python benchmarks/embed_throughput.py [--backend torch|onnx|onnx-int8|all] [--repeats 3] [--corpus corpus]
                                          [--synthetic NOTES] [--threads N] [--fidelity 240]
                                          [--eval eval/dev.jsonl]
                                          [--eval-out runs/emb]

Full rebuilds run into a temporary index; the model is loaded once beforehand, so the figure is the
embedding + index writing work of an ingest, not interpreter or model start-up (reported separately: the
one-time ONNX export as ``export_s``, then ``model_load_s``). With ``--eval`` the dev set is also scored
(retrieval only) on the rebuilt index, into ``<eval-out>-<backend>/``. ``--backend all`` runs each backend
in its own process (so load times are not helped by imports of the one before) and prints a table.
``--synthetic NOTES`` ingests instead the synthetic corpus ``notesqa bench`` makes from ``--corpus`` (that many
notes of the corpus's own sentences, :func:`ui.bench.synthetic_corpus`). Other settings (batch size, max
length, ...) come from the environment as everywhere (``NOTESQA_EMBED_BATCH_SIZE=32 python ...``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest.embeddings import get_embeddings
from ingest.model_files import model_folder, onnx_folder
from ingest.onnx_export import ensure_onnx_export
from ingest.pipeline import ingest
from notesqa.settings import Settings

BACKENDS = ("torch", "onnx", "onnx-int8")


def measure(args: argparse.Namespace, backend: str) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix=f"notesqa-bench-{backend}-"))
    extra = {"threads": args.threads} if args.threads else {}
    corpus = args.corpus
    if args.synthetic:
        from ui.bench import synthetic_corpus

        corpus = tmp / "synthetic"
        synthetic_corpus(args.corpus, corpus, args.synthetic)
    settings = Settings(corpus_dir=corpus, index_dir=tmp / "index", embed_backend=backend, **extra)
    export_s = 0.0
    if backend != "torch":  # one-time export (with torch), kept out of the load time
        t0 = time.perf_counter()
        ensure_onnx_export(model_folder(settings), onnx_folder(settings), backend, settings.embed_model is None)
        export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
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
    out: dict[str, object] = {
        "backend": backend,
        "corpus": f"{args.corpus} (synthetic, {args.synthetic} notes)" if args.synthetic else str(args.corpus),
        "chunks": chunks,
        "export_s": round(export_s, 2),
        "model_load_s": round(load_s, 2),
        "rebuild_s_median": round(statistics.median(seconds), 2),
        "chunks_per_s_median": round(statistics.median(rates), 2),
        "chunks_per_s_all": [round(r, 2) for r in rates],
        "unchanged_reingest_s_median": round(statistics.median(unchanged), 3),
        "threads": settings.threads,
    }
    if args.fidelity and backend != "onnx":
        out.update(fidelity(settings, emb, args.fidelity))
    if args.eval:
        from rag.eval.runner import run_eval

        report = run_eval(settings, args.eval, Path(f"{args.eval_out}-{backend}"), retrieval_only=True)
        overall = report["overall"]
        out.update({k: overall.get(k) for k in ("hit@1", "hit@5", "mrr")})
    return out


def fidelity(settings: Settings, emb: object, limit: int) -> dict[str, float]:
    """Cosine of this backend's vectors to fp32 ONNX ones over the index's first ``limit`` chunks."""
    import numpy as np

    from ingest.store import load_index

    index = load_index(settings.index_dir, emb, settings=settings)
    texts = [index.chunks[cid].embed_text for cid in index.order[:limit]]
    ref = np.asarray(get_embeddings(settings, backend="onnx").embed_documents(texts))
    cos = (np.asarray(emb.embed_documents(texts)) * ref).sum(axis=1)  # type: ignore[attr-defined]
    return {"cosine_to_fp32_min": round(float(cos.min()), 4), "cosine_to_fp32_mean": round(float(cos.mean()), 5)}


def table(rows: list[dict[str, object]]) -> str:
    cols = ["backend", "chunks_per_s_median", "hit@1", "hit@5", "mrr", "model_load_s", "export_s"]
    head = ["backend", "chunks/s (median)", "hit@1", "hit@5", "MRR", "load s", "export s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join("-" if r.get(c) is None else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=[*BACKENDS, "all"], default="torch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--synthetic", type=int, default=0, metavar="NOTES",
                    help="ingest a synthetic corpus of this many notes made from --corpus (as notesqa bench does)")
    ap.add_argument("--threads", type=int, default=None, help="default: settings.threads (all cores)")
    ap.add_argument("--fidelity", type=int, default=0, metavar="CHUNKS",
                    help="also compare this many chunks' vectors with fp32 ONNX ones (cosine min / mean)")
    ap.add_argument("--eval", type=Path, default=None, help="also score this question set (retrieval only)")
    ap.add_argument("--eval-out", default="runs/emb", help="eval output prefix (a -<backend> suffix is added)")
    args = ap.parse_args()
    if args.backend != "all":
        out = measure(args, args.backend)
        print(json.dumps(out))
        print(
            f"{out['backend']}: {out['chunks']} chunks · {out['chunks_per_s_median']} chunks/s (median of "
            f"{args.repeats} rebuilds) · unchanged re-ingest {out['unchanged_reingest_s_median']} s · model load "
            f"{out['model_load_s']} s" + (f" · export {out['export_s']} s" if out["export_s"] else "")
        )
        return
    rows = []
    for backend in BACKENDS:
        cmd = [
            sys.executable,
            __file__,
            "--backend",
            backend,
            "--repeats",
            str(args.repeats),
            "--corpus",
            str(args.corpus),
            "--eval-out",
            args.eval_out,
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.synthetic:
            cmd += ["--synthetic", str(args.synthetic)]
        if args.eval:
            cmd += ["--eval", str(args.eval)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{backend}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            rows.append({"backend": backend})
            continue
        rows.append(json.loads(proc.stdout.splitlines()[0]))
        print(proc.stdout.splitlines()[0])
    print(table(rows))


if __name__ == "__main__":
    main()
