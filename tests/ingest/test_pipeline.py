"""Incremental ingest: only new/changed notes are embedded, deletes and renames never duplicate, crashes
never corrupt the index, on FAISS (exact and HNSW) and Milvus Lite alike (real e5 embeddings: slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.embeddings import get_embeddings
from ingest.loaders import NotesError
from ingest.pipeline import ingest
from ingest.store import (
    IndexCorruptError,
    IndexLockedError,
    load_index,
    read_manifest,
    writer_lock,
)
from notesqa.settings import Settings
from rag.eval.dataset import load_questions
from tests.conftest import DEV, ROOT

pytestmark = pytest.mark.slow
BACKENDS = ["faiss", pytest.param("milvus", marks=pytest.mark.skipif(
    importlib.util.find_spec("langchain_milvus") is None, reason="pip install 'notesqa[milvus]'"))]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The ``settings`` fixture on each vector backend (Milvus: Milvus Lite inside the generation)."""
    return settings.model_copy(update={"vector_backend": request.param})


def _consistent(settings: Settings) -> int:
    index = load_index(settings.index_dir, settings=settings)
    ids = [cid for f in index.manifest.files.values() for cid in f.chunk_ids]
    assert len(ids) == len(set(ids)) == len(index) == len(index.dense)
    assert set(ids) == set(index.order) == set(index.sparse.ids)
    assert index.manifest.dense_index["backend"] == settings.vector_backend
    return len(ids)


def _dev_queries(settings: Settings, n: int) -> np.ndarray:
    questions = [q.question for q in load_questions(DEV)[:n]]
    return np.asarray([get_embeddings(settings).embed_query(q) for q in questions], dtype=np.float32)


def test_incremental_reingest_embeds_only_what_changed(backend_settings: Settings) -> None:
    settings = backend_settings
    first = ingest(settings)
    assert (first.files_added, first.files_skipped) == (5, 0)
    assert first.chunks_embedded == first.chunks_total > 50
    gen = read_manifest(settings.index_dir).generation

    again = ingest(settings)
    assert again.chunks_embedded == 0 and again.files_unchanged == 5
    assert read_manifest(settings.index_dir).generation == gen  # nothing rewritten

    note = settings.corpus_dir / "002_0e9310b01a6dc153.txt"
    note.write_text(note.read_text(encoding="utf-8") + "\n\n新增的一段笔记：向量检索需要增量更新。\n", encoding="utf-8")
    changed = ingest(settings)
    assert (changed.files_changed, changed.files_unchanged) == (1, 4)
    per_file = len(read_manifest(settings.index_dir).files["002_0e9310b01a6dc153.txt"].chunk_ids)
    assert 1 <= changed.chunks_embedded <= per_file  # unchanged chunks of the edited note reuse their vectors
    assert _consistent(settings) == changed.chunks_total

    (settings.corpus_dir / "003_789153256f2197d6.txt").unlink()
    removed = ingest(settings)
    assert removed.files_removed == 1 and removed.chunks_embedded == 0
    assert "003_789153256f2197d6.txt" not in read_manifest(settings.index_dir).files
    assert _consistent(settings) == removed.chunks_total


def test_rename_reuses_vectors_and_never_duplicates(backend_settings: Settings) -> None:
    settings = backend_settings
    ingest(settings)
    total = read_manifest(settings.index_dir).chunk_count
    os.rename(settings.corpus_dir / "000_330fc9d37bdba89e.txt", settings.corpus_dir / "renamed.txt")
    report = ingest(settings)
    assert (report.files_added, report.files_removed, report.chunks_embedded) == (1, 1, 0)
    assert _consistent(settings) == total
    sources = {c.source for c in load_index(settings.index_dir, settings=settings).chunks.values()}
    assert "renamed.txt" in sources and "000_330fc9d37bdba89e.txt" not in sources


def test_changed_chunk_settings_force_a_full_rebuild(settings: Settings) -> None:
    ingest(settings)
    smaller = settings.model_copy(update={"chunk_target_tokens": 120})
    report = ingest(smaller)
    assert report.rebuilt and report.chunks_total > read_manifest(settings.index_dir).chunk_count * 0 + 1
    assert report.chunks_embedded > 0
    assert read_manifest(settings.index_dir).signature["chunk_target_tokens"] == 120


def test_bad_inputs_give_clear_errors(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(NotesError, match="does not exist"):
        ingest(settings, [tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotesError, match="No notes"):
        ingest(settings.model_copy(update={"index_dir": tmp_path / "i2"}), [empty])


def test_corrupted_index_is_detected_and_rebuild_recovers(backend_settings: Settings) -> None:
    settings = backend_settings
    ingest(settings)
    gen = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    for path in (gen / "dense").rglob("*"):
        if path.is_file():
            path.write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        load_index(settings.index_dir, settings=settings)
    (gen / "manifest.json").unlink()
    with pytest.raises(IndexCorruptError, match="manifest"):
        ingest(settings)
    report = ingest(settings, rebuild=True)
    assert report.chunks_total > 0 and _consistent(settings) == report.chunks_total


def test_second_writer_is_refused_while_one_holds_the_lock(settings: Settings) -> None:
    with writer_lock(settings.index_dir), pytest.raises(IndexLockedError, match="Another ingest"):
        ingest(settings)


def test_killed_ingest_leaves_the_previous_index_loadable(settings: Settings, tmp_path: Path) -> None:
    """SIGKILL a real ingest at many moments (model load, embedding, writing, the CURRENT swap)."""
    ingest(settings)
    before = read_manifest(settings.index_dir).chunk_count
    extra = settings.corpus_dir / "extra.md"
    env = {**os.environ, "NOTESQA_CORPUS_DIR": str(settings.corpus_dir), "SLOW_INGEST_DELAY": "0.4",
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.helpers.slow_ingest", "ingest", str(settings.corpus_dir),
           "--index", str(settings.index_dir), "--json"]
    moments = 0
    for n, wait_for in enumerate(["start", "start", "start", "replace", "replace", "replace", "CURRENT",
                                  "CURRENT", "after", "after"]):
        extra.write_text(f"# 新笔记 {n}\n\n第 {n} 次写入的内容，用来触发增量写入。\n", encoding="utf-8")
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        if wait_for == "start":
            time.sleep(0.5 + n)  # interpreter start, model load
        else:
            deadline = time.time() + 120
            for line in proc.stdout:  # type: ignore[union-attr]
                if (wait_for == "replace" and line.startswith("replace") and ".tmp" in line.split("->")[0]) or (
                        wait_for in ("CURRENT", "after") and "CURRENT" in line) or time.time() > deadline:
                    break
            if wait_for == "after":
                time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        moments += 1
        count = _consistent(settings)  # loads and matches its manifest whatever moment it died at
        assert count >= before
    assert moments == 10
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["chunks_total"] == _consistent(settings)
    assert "extra.md" in read_manifest(settings.index_dir).files
    leftovers = [p.name for p in settings.index_dir.iterdir() if ".tmp" in p.name]
    assert not leftovers
    shutil.rmtree(settings.index_dir)


@pytest.mark.parametrize("vector_backend", ["faiss", BACKENDS[1]])
def test_hnsw_index_agrees_with_exact_search_and_forgets_deleted_notes(settings: Settings,
                                                                       vector_backend: str) -> None:
    settings = settings.model_copy(update={"vector_backend": vector_backend, "ann_min_chunks": 10})
    ingest(settings)
    record = read_manifest(settings.index_dir).dense_index
    assert record == {**record, "backend": vector_backend, "kind": "hnsw", "M": 32, "efSearch": 128}
    index = load_index(settings.index_dir, settings=settings)
    stored = index.vectors(index.order)
    recalls = []
    for q in _dev_queries(settings, 12):
        exact = {index.order[i] for i in np.argsort(-(stored @ q))[:5]}
        recalls.append(len(exact & {i for i, _ in index.dense_search(q, 5)}) / 5)
    assert np.mean(recalls) >= 0.9

    gone = "001_f68183d21df79685.txt"
    gone_ids = index.manifest.files[gone].chunk_ids
    gone_vectors = index.vectors(gone_ids)
    (settings.corpus_dir / gone).unlink()
    edited = settings.corpus_dir / "004_f8b6cfda9aefe373.txt"
    extra = "\n\n补充：HNSW 索引不能删除向量，需要重建。\n"
    edited.write_text(edited.read_text(encoding="utf-8") + extra, encoding="utf-8")
    report = ingest(settings)
    assert (report.files_removed, report.files_changed) == (1, 1)
    assert read_manifest(settings.index_dir).dense_index["kind"] == "hnsw"
    assert _consistent(settings) == report.chunks_total
    after = load_index(settings.index_dir, settings=settings)
    for vec in gone_vectors:
        assert not {i for i, _ in after.dense_search(vec, 5)} & set(gone_ids)


@pytest.mark.skipif(importlib.util.find_spec("langchain_milvus") is None, reason="pip install 'notesqa[milvus]'")
def test_faiss_and_milvus_return_the_same_hits_for_dev_questions(settings: Settings, tmp_path: Path) -> None:
    milvus = settings.model_copy(update={"vector_backend": "milvus", "index_dir": tmp_path / "milvus-index"})
    ingest(settings)
    ingest(milvus)
    indexes = [load_index(s.index_dir, settings=s) for s in (settings, milvus)]
    assert indexes[0].order == indexes[1].order
    for q in _dev_queries(settings, 6):
        faiss_hits, milvus_hits = (index.dense_search(q, 5) for index in indexes)
        assert [i for i, _ in faiss_hits] == [i for i, _ in milvus_hits]
        np.testing.assert_allclose([s for _, s in faiss_hits], [s for _, s in milvus_hits], atol=1e-3)
