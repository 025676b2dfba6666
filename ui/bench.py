"""``notesqa bench``: ingest, retrieval-at-scale and answering figures, as JSON and a readable table.

Every figure is measured here and printed; nothing is asserted about speed. Repeated timings are reported as
medians (p50) and p95. Large retrieval sizes use synthetic data made from the real index: vectors are mixtures
of real chunk vectors plus noise, token lists are splices of real chunk tokens, and the queries are the real
dev-set questions.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from notesqa.settings import Settings
from rag.eval.scoring import percentile

QUICK_SIZES = (1_000, 10_000)
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0.0
    with contextlib.suppress(OSError, IndexError, ValueError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {"cpus": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem, 1), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def rss_mb(peak: bool = False) -> float:
    """This process's resident memory (or its peak) in MB, from /proc (0 where that is unavailable)."""
    key = "VmHWM:" if peak else "VmRSS:"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _p(values: Sequence[float], p: float, digits: int = 2) -> float | None:
    """The ``p``-th percentile, rounded (``None`` for no values): the eval's definition, so "p95" is the same
    figure in a bench table and an eval report."""
    value = percentile(values, p)
    return round(value, digits) if value is not None else None


def _ms(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50_ms": _p([v * 1000 for v in values], 50, 3), "p95_ms": _p([v * 1000 for v in values], 95, 3)}


def questions_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- ingest --------------------------------------------------------------------------------------------------

def synthetic_corpus(source: Path, target: Path, notes: int, seed: int = 0) -> int:
    """Write ``notes`` notes made of the source notes' own sentences (shuffled, 6-24 per note, under a heading);
    returns the number of characters written."""
    from ingest.loaders import load_notes
    from notesqa.text import split_sentences

    found, _ = load_notes([source], source, 50_000_000)
    sentences = [n.text[a:b].strip() for n in found for a, b in split_sentences(n.text, 0, len(n.text))
                 if len(n.text[a:b].strip()) > 8 and not n.text[a:b].lstrip().startswith("#")]
    if not sentences:
        raise ValueError(f"no sentences found in {source}")
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for i in range(notes):
        body = "".join(rng.choice(sentences) for _ in range(rng.randint(6, 24)))
        text = f"# 合成笔记 {i:05d}\n\n{body}\n"
        (target / f"synthetic_{i:05d}.md").write_text(text, encoding="utf-8")
        written += len(text)
    return written


def bench_ingest(settings: Settings, work: Path, synthetic_notes: int, log: Log = _quiet) -> dict[str, Any]:
    """Full rebuild of the corpus and of a synthetic corpus (chunks/s), then re-ingest with nothing / one note
    changed (seconds). The embedding model is loaded before timing starts."""
    from ingest.embeddings import get_embeddings
    from ingest.pipeline import ingest

    get_embeddings(settings).embed_documents(["warm up"])
    out: dict[str, Any] = {}
    corpus = work / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    synthetic = work / "synthetic"
    synthetic_corpus(corpus, synthetic, synthetic_notes)
    for name, folder in (("corpus", corpus), ("synthetic", synthetic)):
        s = settings.model_copy(update={"corpus_dir": folder, "index_dir": work / f"index-{name}"})
        log(f"ingest: full rebuild of {name} ({folder})")
        full = ingest(s, rebuild=True)
        unchanged = [ingest(s).seconds for _ in range(3)]
        note = sorted(folder.glob("*.*"))[0]
        note.write_text(note.read_text(encoding="utf-8") + "\n补充：这一句是基准测试加上的。\n", encoding="utf-8")
        one = ingest(s)
        out[name] = {
            "notes": full.files_added, "chunks": full.chunks_total, "full_s": round(full.seconds, 2),
            "chunks_per_s": round(full.chunks_embedded / full.seconds, 2) if full.seconds else None,
            "unchanged_s": _p(unchanged, 50, 3),
            "one_changed_s": round(one.seconds, 3), "one_changed_chunks_embedded": one.chunks_embedded,
        }
        log(f"  {out[name]}")
    return out


# --- retrieval at scale ----------------------------------------------------------------------------------------

def synthetic_vectors(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.03) -> np.ndarray:
    """``n`` unit vectors: random mixtures of two real vectors plus Gaussian noise (the real ones come first)."""
    n_real = min(n, len(base))
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[:n_real] = base[:n_real]
    m = n - n_real
    for lo in range(0, m, 100_000):
        hi = min(m, lo + 100_000)
        i, j = rng.integers(0, len(base), hi - lo), rng.integers(0, len(base), hi - lo)
        a = rng.random((hi - lo, 1), dtype=np.float32)
        block = a * base[i] + (1 - a) * base[j]
        block += rng.standard_normal(block.shape, dtype=np.float32) * noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[n_real + lo : n_real + hi] = block
    return out


def synthetic_tokens(base: list[list[str]], n: int, rng: random.Random) -> list[list[str]]:
    """``n`` token lists: the real ones, then splices of two random windows of real chunks' tokens."""
    out = [list(t) for t in base[:n]]
    while len(out) < n:
        a, b = rng.choice(base), rng.choice(base)
        i, j = rng.randrange(max(1, len(a))), rng.randrange(max(1, len(b)))
        out.append(a[i : i + 30] + b[j : j + 30])
    return out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def _fuse(dense_ids: list[str], sparse_ids: list[str], settings: Settings) -> list[str]:
    """The hybrid retriever's fusion step: RRF, then the top ``top_k``."""
    from rag.retrieve import rrf

    fused = rrf([(dense_ids, settings.dense_weight), (sparse_ids, settings.bm25_weight)], settings.rrf_k)
    return sorted(fused, key=lambda i: -fused[i])[: settings.top_k]


def bench_retrieval(settings: Settings, index_dir: Path, questions: list[str], sizes: Sequence[int],
                    repeats: int = 3, log: Log = _quiet) -> list[dict[str, Any]]:
    """Per size: dense (the index kind the store would pick), BM25 and hybrid p50/p95 per query, build times,
    memory, and recall@10 of the dense index against exact search."""
    import faiss

    from ingest.embeddings import get_embeddings
    from ingest.sparse import SparseIndex
    from ingest.store import load_index
    from ingest.vectorstores import choose_kind, faiss_index

    faiss.omp_set_num_threads(settings.threads)
    index = load_index(index_dir, settings=settings)
    base = index.vectors(index.order)
    base_tokens = [index.tokens[i] for i in index.order]
    embeddings = get_embeddings(settings)
    queries = np.asarray([embeddings.embed_query(q) for q in questions], dtype=np.float32)
    rows = []
    k = settings.candidate_k
    for n in sizes:
        rng = np.random.default_rng(n)
        vectors = synthetic_vectors(base, n, rng)
        ids = [f"c{i}" for i in range(n)]
        kind = choose_kind(n, settings)
        log(f"retrieval: {n:,} chunks, {kind} index")
        ram0 = rss_mb()
        dense = faiss_index(vectors.shape[1], n, settings)
        _, dense_build = _timed(lambda d=dense, v=vectors: d.add(v))
        dense_ram = rss_mb() - ram0
        tokens = synthetic_tokens(base_tokens, n, random.Random(n))
        ram1 = rss_mb()
        sparse, sparse_build = _timed(lambda t=tokens, i=ids: SparseIndex.build(t, i))
        sparse_ram = rss_mb() - ram1
        del tokens
        d_times, s_times, h_times = [], [], []
        approx: list[np.ndarray] = []
        for _ in range(repeats):
            for qv, qt in zip(queries, questions, strict=True):
                (_, found), t = _timed(lambda d=dense, q=qv: d.search(q[None, :], k))
                d_times.append(t)
                if len(approx) < len(queries):
                    approx.append(found[0][:10])
                hits, t2 = _timed(lambda s=sparse, q=qt: s.search(q, k))
                s_times.append(t2)
                dense_ids = [ids[i] for i in found[0] if i >= 0]
                _, t3 = _timed(lambda d=dense_ids, h=hits: _fuse(d, [c for c, _ in h], settings))
                h_times.append(t + t2 + t3)
        recall = 1.0
        if kind != "flat":
            exact = faiss.IndexFlatIP(vectors.shape[1])
            exact.add(vectors)
            _, truth = exact.search(queries, 10)
            recall = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10
                                    for a, b in zip(approx, truth, strict=True)]))
            del exact
        rows.append({
            "chunks": n, "dense_index": kind, "dense_build_s": round(dense_build, 2),
            "dense_ram_mb": round(dense_ram, 1), "bm25_build_s": round(sparse_build, 2),
            "bm25_ram_mb": round(sparse_ram, 1), "dense": _ms(d_times), "bm25": _ms(s_times),
            "hybrid": _ms(h_times), "recall@10": round(recall, 3), "queries": len(d_times),
        })
        log(f"  {rows[-1]}")
        del dense, sparse, vectors
    return rows


# --- answering -------------------------------------------------------------------------------------------------

def bench_answer(settings: Settings, rows: list[dict[str, Any]], log: Log = _quiet) -> dict[str, Any]:
    """Answer the questions with the local model (loaded and warmed first): time to first token, total,
    prompt tokens, decode speed, peak memory; and what llama.cpp's prompt-prefix cache saves."""
    from rag.answer import Answerer

    with contextlib.suppress(OSError):  # reset the peak-RSS mark so earlier parts of the bench don't count
        Path("/proc/self/clear_refs").write_text("5")
    from rag.llm import build_features

    answerer = Answerer(settings)
    with answerer.llm.turn():  # what this machine and build do, before the prefix is read into the cache
        speed = answerer.llm.speed()
    log(f"  llama.cpp ({', '.join(build_features())}): prompt {speed['prompt_tok_s']} tok/s, "
        f"generation {speed['generate_tok_s']} tok/s")
    answerer.warm_up()
    evidence: list[float] = []
    first, first_answer, total, prompt_tokens, tps = [], [], [], [], []
    split: dict[str, list[float]] = {k: [] for k in ("read_s", "reasoning_s", "answer_s", "translate_s",
                                                     "reasoning_tokens", "answer_tokens")}
    for row in rows:
        a = answerer.answer(row["question"])
        t = a.timings
        total.append(t["total"] or 0.0)
        if t.get("first_token") is None:  # declined before the model (gate, injection): no model timing
            continue
        first.append(t["first_token"] or 0.0)
        if t.get("first_evidence") is not None:
            evidence.append(t["first_evidence"])
        if t.get("first_answer_token") is not None:
            first_answer.append(t["first_answer_token"] or 0.0)
        prompt_tokens.append(a.usage.get("prompt_tokens", 0))
        # where the model's time went: reading the prompt (to the first token), the reasoning, the answer,
        # and the English rendering of an answer written in Chinese
        if t.get("reasoning_end") is not None and t.get("answer_end") is not None:
            split["read_s"].append(t["first_token"] - (t.get("first_evidence") or 0.0))
            split["reasoning_s"].append(t["reasoning_end"] - t["first_token"])
            split["answer_s"].append(t["answer_end"] - t["reasoning_end"])
            split["translate_s"].append(max(0.0, (t["total"] or 0.0) - t["answer_end"]))
            split["reasoning_tokens"].append(a.usage.get("reasoning_tokens", 0))
            split["answer_tokens"].append(a.usage.get("answer_tokens", 0))
        prefill = (t["first_token"] or 0.0) - (t.get("retrieve") or 0.0) - (t.get("select") or 0.0)
        decode = (t.get("generate") or 0.0) - prefill
        if decode > 0:
            tps.append(a.usage.get("completion_tokens", 0) / decode)
        log(f"  {row['id']}: first token {t['first_token']:.2f}s, total {t['total']:.2f}s")
    cache = prompt_cache_gain(answerer, [r["question"] for r in rows][:3])
    return {
        "model": answerer.model_name, "questions": len(rows), "model_calls": len(first),
        "llama_build": build_features(), "machine_speed": speed,
        "first_evidence_p50_s": _p(evidence, 50),
        "first_token_p50_s": _p(first, 50), "first_token_p95_s": _p(first, 95),
        "first_answer_token_p50_s": _p(first_answer, 50),
        "total_p50_s": _p(total, 50), "total_p95_s": _p(total, 95),
        "prompt_tokens_p50": _p(prompt_tokens, 50, 0),
        "time_split_p50": {k: _p(v, 50, 2) for k, v in split.items()},
        "decode_tokens_per_s_p50": _p(tps, 50, 1),
        "peak_rss_mb": round(rss_mb(peak=True), 1),
        "prompt_cache": cache,
    }


def prompt_cache_gain(answerer: Any, questions: list[str]) -> dict[str, Any]:
    """Time to first token of the same prompts with llama.cpp's cache holding the fixed prefix (the normal
    case: another question was answered before) and with the cache emptied first."""
    from notesqa.text import language
    from rag import prompts
    from rag.context import select_context

    llm = answerer.llm
    warm, cold, prefix_tokens = [], [], 0
    for q in questions:
        hits = answerer.retrieve(q)
        selected = select_context(q, hits, answerer.handle.retriever().embeddings, answerer.settings.context_passages,
                                  answerer.settings.context_max_chars)
        if not selected:
            continue
        lang = language(q)
        prompt = llm.chat_prompt(prompts.messages(q, [x.passage for x in selected], lang),
                                 assistant_prefix="思考: " if lang == "zh" else "Reasoning: ")
        dummy = llm.chat_prompt(prompts.messages("warm up", [prompts.Passage(1, "-", "-")], lang))
        prefix_tokens = _common_prefix(llm, prompt, dummy)
        with llm.turn():
            for label, reset in (("warm", False), ("cold", True)):
                for _ in llm.complete(dummy, 1, stop=[]):
                    pass
                if reset:
                    llm.load().reset()
                t = time.perf_counter()
                for _ in llm.complete(prompt, 1, stop=[]):
                    break
                (warm if label == "warm" else cold).append(time.perf_counter() - t)
    if not warm:
        return {}
    warm_p50, cold_p50 = _p(warm, 50), _p(cold, 50)
    return {"fixed_prefix_tokens": prefix_tokens, "first_token_warm_p50_s": warm_p50,
            "first_token_cold_p50_s": cold_p50,
            "saved_p50_s": round(cold_p50 - warm_p50, 2) if cold_p50 is not None and warm_p50 is not None else None}


def _common_prefix(llm: Any, a: str, b: str) -> int:
    ta, tb = (llm.load().tokenize(x.encode(), add_bos=False, special=True) for x in (a, b))
    n = 0
    while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
        n += 1
    return n


# --- all of it -------------------------------------------------------------------------------------------------

def run_bench(settings: Settings, questions_path: Path, out: Path, *, quick: bool = False,
              sizes: Sequence[int] | None = None, parts: Sequence[str] = ("ingest", "retrieval", "answer"),
              log: Log = _quiet) -> dict[str, Any]:
    """Run the benchmark parts and write ``bench.json`` and ``bench.md`` into ``out``."""
    import tempfile

    rows = questions_of(questions_path)
    answerable = [r for r in rows if r.get("type") not in ("unanswerable", "adversarial")]
    result: dict[str, Any] = {"machine": machine(), "quick": quick, "threads": settings.threads}
    work = Path(tempfile.mkdtemp(prefix="notesqa-bench-"))
    try:
        if "ingest" in parts:
            result["ingest"] = bench_ingest(settings, work, 100 if quick else 2_000, log)
        index_dir = work / "index-corpus"
        if not index_dir.exists():
            from ingest.pipeline import ingest

            ingest(settings.model_copy(update={"index_dir": index_dir}))
        s = settings.model_copy(update={"index_dir": index_dir})
        if "retrieval" in parts:
            result["retrieval"] = bench_retrieval(s, index_dir, [r["question"] for r in rows],
                                                  sizes or (QUICK_SIZES if quick else FULL_SIZES), log=log)
        if "answer" in parts:
            result["answer"] = bench_answer(s, rows[:5] if quick else rows, log)
        result["answerable_questions"] = len(answerable)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "bench.md").write_text(markdown(result), encoding="utf-8")
    return result


def markdown(result: dict[str, Any]) -> str:
    """The bench result as Markdown tables (what benchmarks/README.md keeps)."""
    m = result["machine"]
    lines = [f"Measured {m['date']} on {m['cpus']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, "
             f"{result['threads']} threads{' (quick run)' if result.get('quick') else ''}.", ""]
    if "ingest" in result:
        lines += ["| ingest | notes | chunks | full rebuild | chunks/s | re-ingest, nothing changed | "
                  "re-ingest, one note changed |", "|---|---|---|---|---|---|---|"]
        for name, r in result["ingest"].items():
            lines.append(f"| {name} | {r['notes']} | {r['chunks']} | {r['full_s']} s | {r['chunks_per_s']} | "
                         f"{r['unchanged_s']} s | {r['one_changed_s']} s ({r['one_changed_chunks_embedded']} "
                         "chunks embedded) |")
        lines.append("")
    if "retrieval" in result:
        lines += ["| chunks | dense index | dense p50 / p95 | BM25 p50 / p95 | hybrid p50 / p95 | recall@10 vs exact "
                  "| dense build | BM25 build | RAM dense + BM25 |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result["retrieval"]:
            lines.append(
                f"| {r['chunks']:,} | {r['dense_index']} | {r['dense']['p50_ms']} / {r['dense']['p95_ms']} ms | "
                f"{r['bm25']['p50_ms']} / {r['bm25']['p95_ms']} ms | {r['hybrid']['p50_ms']} / "
                f"{r['hybrid']['p95_ms']} ms | {r['recall@10']} | {r['dense_build_s']} s | {r['bm25_build_s']} s | "
                f"{r['dense_ram_mb']:.0f} + {r['bm25_ram_mb']:.0f} MB |")
        lines += ["", "(query embedding not included: see the answering row's timings; hybrid = dense + BM25 + "
                  "fusion)", ""]
    if "answer" in result:
        a = result["answer"]
        c = a.get("prompt_cache") or {}
        lines += ["| answering | questions (model calls) | first evidence p50 | first token p50 / p95 | "
                  "first answer token p50 | total p50 / p95 | prompt tokens p50 | decode tok/s (≈) | peak RSS |",
                  "|---|---|---|---|---|---|---|---|---|",
                  f"| {a['model']} | {a['questions']} ({a['model_calls']}) | {a.get('first_evidence_p50_s')} s | "
                  f"{a['first_token_p50_s']} / "
                  f"{a['first_token_p95_s']} s | {a['first_answer_token_p50_s']} s | {a['total_p50_s']} / "
                  f"{a['total_p95_s']} s | {a['prompt_tokens_p50']} | {a['decode_tokens_per_s_p50']} | "
                  f"{a['peak_rss_mb']:.0f} MB |", ""]
        if a.get("time_split_p50"):
            sp = a["time_split_p50"]
            lines += [f"Where a model turn's time goes (p50): reading the prompt {sp['read_s']} s, reasoning "
                      f"{sp['reasoning_s']} s ({sp['reasoning_tokens']} tokens), answer {sp['answer_s']} s "
                      f"({sp['answer_tokens']} tokens), English rendering and checks {sp['translate_s']} s.", ""]
        if a.get("machine_speed"):
            m = a["machine_speed"]
            lines += [f"This machine: llama.cpp built with {', '.join(a.get('llama_build') or [])}; it reads prompts "
                      f"at {m['prompt_tok_s']} tok/s and generates {m['generate_tok_s']} tok/s ({m['threads']} "
                      "threads). Timings scale with these two figures on another machine.", ""]
        if c:
            lines += [f"Prompt cache: the fixed prefix is {c['fixed_prefix_tokens']} tokens; first token "
                      f"{c['first_token_warm_p50_s']} s with it cached vs {c['first_token_cold_p50_s']} s with the "
                      f"cache emptied (saves {c['saved_p50_s']} s per question, p50).", ""]
    return "\n".join(lines)
