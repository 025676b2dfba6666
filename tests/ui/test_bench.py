"""``notesqa bench``: synthetic data is made from the real corpus, and a small run produces every row."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from notesqa.settings import Settings
from tests.conftest import CORPUS, DEV
from ui.bench import markdown, run_bench, synthetic_corpus, synthetic_tokens, synthetic_vectors


def test_synthetic_corpus_reuses_the_corpus_sentences(tmp_path: Path) -> None:
    chars = synthetic_corpus(CORPUS, tmp_path / "syn", 20)
    files = sorted((tmp_path / "syn").glob("*.md"))
    assert len(files) == 20 and chars == sum(len(f.read_text(encoding="utf-8")) for f in files)
    corpus_text = "".join(p.read_text(encoding="utf-8") for p in CORPUS.iterdir())
    body = files[3].read_text(encoding="utf-8").split("\n\n", 1)[1]
    assert len(body) > 50 and body[:12] in corpus_text
    assert synthetic_corpus(CORPUS, tmp_path / "again", 20) == chars  # deterministic


def test_synthetic_vectors_are_unit_length_and_keep_the_real_ones() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((7, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    out = synthetic_vectors(base, 50, rng)
    assert out.shape == (50, 16)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out[:7], base)
    tokens = synthetic_tokens([["a", "b"], ["c"]], 5, random.Random(0))
    assert tokens[:2] == [["a", "b"], ["c"]] and len(tokens) == 5 and all(set(t) <= {"a", "b", "c"} for t in tokens)


def test_bench_and_eval_share_one_percentile() -> None:
    from rag.eval.scoring import percentile
    from ui import bench

    assert bench.percentile is percentile
    assert percentile([3, 1, 2], 50) == 2 and percentile(list(range(101)), 95) == 95
    assert percentile([1, 2], 50) == 1.5 and percentile([], 50) is None


@pytest.mark.slow
def test_a_small_retrieval_bench_measures_every_column(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path / "unused", ann_min_chunks=2_000)
    result = run_bench(settings, DEV, tmp_path / "out", sizes=(500, 3_000), parts=("retrieval",))
    rows = result["retrieval"]
    assert [r["chunks"] for r in rows] == [500, 3_000]
    assert [r["dense_index"] for r in rows] == ["flat", "hnsw"]
    assert rows[0]["recall@10"] == 1.0 and 0.5 <= rows[1]["recall@10"] <= 1.0
    for r in rows:
        assert r["queries"] == 90 and r["hybrid"]["p50_ms"] >= r["dense"]["p50_ms"] > 0
    saved = json.loads((tmp_path / "out" / "bench.json").read_text(encoding="utf-8"))
    assert saved["retrieval"] == rows
    table = (tmp_path / "out" / "bench.md").read_text(encoding="utf-8")
    assert table == markdown(result) and "| 3,000 | hnsw |" in table


def test_the_answering_table_says_what_the_machine_does() -> None:
    answer = {"model": "m.gguf", "questions": 3, "model_calls": 2, "first_evidence_p50_s": 0.2,
              "first_token_p50_s": 1.0, "first_token_p95_s": 2.0, "first_answer_token_p50_s": 1.5,
              "total_p50_s": 3.0, "total_p95_s": 4.0, "prompt_tokens_p50": 700, "decode_tokens_per_s_p50": 20.0,
              "peak_rss_mb": 2000.0, "llama_build": ["AVX2", "AVX512"],
              "machine_speed": {"prompt_tok_s": 110.0, "generate_tok_s": 14.0, "threads": 2, "prompt_tokens": 180},
              "time_split_p50": {"read_s": 1.9, "reasoning_s": 2.5, "answer_s": 1.1, "translate_s": 0.0,
                                 "reasoning_tokens": 36, "answer_tokens": 15}}
    machine = {"date": "2026-12-02", "cpus": 2, "cpu": "x86_64", "ram_gib": 23.5, "python": "3.11.7"}
    text = markdown({"machine": machine, "threads": 2, "answer": answer})
    assert "| 0.2 s |" in text and "built with AVX2, AVX512" in text and "110.0 tok/s" in text
    assert "reasoning 2.5 s (36 tokens)" in text
