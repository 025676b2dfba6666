"""Dense stores on random unit vectors (no model): index kind by size, FAISS and Milvus (Lite, Lite's gRPC server
and a real Milvus server) agree, survive save/load, and a server keeps only the collections of live generations.
More on the real server in test_milvus_server.py."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.vectorstores import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    LITE_DB,
    DenseStore,
    MilvusDense,
    choose_kind,
    faiss_index,
    load_dense,
    new_dense_store,
)
from notesqa.settings import Settings
from tests.helpers.milvus_standalone import TOKEN

HAS_MILVUS = importlib.util.find_spec("langchain_milvus") is not None
needs_milvus = pytest.mark.skipif(not HAS_MILVUS, reason="pip install 'notesqa[milvus]'")
DIM = 32


def _unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fill(store: DenseStore, vectors: np.ndarray) -> list[str]:
    ids = [f"c{i}" for i in range(len(vectors))]
    store.add(ids, [f"text {i}" for i in ids], vectors, [{"chunk_id": i, "source": "s.md"} for i in ids])
    return ids


@pytest.fixture()
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """A Milvus Lite gRPC server standing in for a Milvus cluster (same client code path: URI + token)."""
    if not HAS_MILVUS:
        pytest.skip("pip install 'notesqa[milvus]'")
    from milvus_lite.server_manager import server_manager_instance

    db = str(tmp_path / "server.db")
    uri = server_manager_instance.start_and_get_uri(db)
    assert uri is not None
    yield uri
    server_manager_instance.release_server(db)


@pytest.fixture(params=["faiss", pytest.param("milvus-lite", marks=needs_milvus), "milvus-server",
                        pytest.param("milvus-standalone", marks=[pytest.mark.milvus_server, pytest.mark.slow])])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each backend: FAISS, Milvus Lite (file in the generation), Milvus at a server URI (Lite's
    gRPC server, and a real Milvus server with authentication)."""
    settings = Settings(index_dir=tmp_path / "index", vector_backend="faiss" if request.param == "faiss" else "milvus")
    if request.param == "milvus-server":
        settings.milvus_uri = request.getfixturevalue("milvus_server")
    elif request.param == "milvus-standalone":
        settings.milvus_uri = request.getfixturevalue("milvus_standalone").uri
        settings.milvus_token = TOKEN
    return settings


def test_choose_kind_switches_to_hnsw_at_the_threshold() -> None:
    settings = Settings(ann_min_chunks=1000)
    assert [choose_kind(n, settings) for n in (0, 999, 1000, 10**6)] == ["flat", "flat", "hnsw", "hnsw"]
    assert choose_kind(99_999, Settings()) == "flat" and choose_kind(100_000, Settings()) == "hnsw"


def test_faiss_factory_builds_exact_or_hnsw_with_good_recall() -> None:
    import faiss

    settings = Settings(ann_min_chunks=1000, hnsw_ef_search=64)
    assert isinstance(faiss_index(DIM, 999, settings), faiss.IndexFlatIP)
    hnsw = faiss_index(DIM, 2000, settings)
    assert isinstance(hnsw, faiss.IndexHNSWFlat) and hnsw.metric_type == faiss.METRIC_INNER_PRODUCT
    assert (hnsw.hnsw.efConstruction, hnsw.hnsw.efSearch, hnsw.hnsw.nb_neighbors(1)) == (
        HNSW_EF_CONSTRUCTION, 64, HNSW_M)
    base, queries = _unit(2000), _unit(50, seed=1)
    exact = faiss_index(DIM, 10, settings)
    for index in (exact, hnsw):
        index.add(base)
    _, truth = exact.search(queries, 5)
    _, found = hnsw.search(queries, 5)
    recall = np.mean([len(set(t) & set(f)) / 5 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("ann_min_chunks", [100_000, 10])
def test_store_round_trip(backend: Settings, tmp_path: Path, ann_min_chunks: int) -> None:
    settings = backend.model_copy(update={"ann_min_chunks": ann_min_chunks})
    vectors = _unit(300)
    store = new_dense_store(settings, DIM, len(vectors))
    ids = _fill(store, vectors)
    assert store.record["kind"] == choose_kind(300, settings) and store.record["backend"] == settings.vector_backend
    top = store.search(vectors[7], 3)
    assert top[0][0] == "c7" and abs(top[0][1] - 1.0) < 1e-5
    record = store.save(tmp_path / "dense")
    loaded = load_dense(tmp_path / "dense", record, settings)
    assert (len(loaded), loaded.dim) == (300, DIM)
    assert loaded.missing(["c1", "nope", "c299"]) == ["nope"]
    np.testing.assert_allclose(loaded.vectors(["c5", "c2"]), vectors[[5, 2]], atol=1e-6)
    assert [i for i, _ in loaded.search(vectors[7], 3)] == [i for i, _ in top]
    if record["backend"] == "milvus":
        assert loaded.updatable(300, deletes=False) is False  # a generation's collection is never changed
        assert ("uri" in record) and (record["uri"] is None) == (settings.milvus_uri is None)
    elif record["kind"] == "hnsw":
        assert loaded.updatable(301, deletes=False) and not loaded.updatable(299, deletes=True)
        with pytest.raises(ValueError, match="HNSW"):
            loaded.delete(ids[:1])
    else:
        assert loaded.updatable(299, deletes=True) and not loaded.updatable(100_000, deletes=False)
    if record["kind"] == "flat":
        loaded.delete(["c7"])
        assert len(loaded) == 299 and "c7" not in {i for i, _ in loaded.search(vectors[7], 5)}


def test_hnsw_ef_search_is_reapplied_after_load(tmp_path: Path) -> None:
    store = new_dense_store(Settings(ann_min_chunks=10, hnsw_ef_search=128), DIM, 100)
    _fill(store, _unit(100))
    record = store.save(tmp_path / "dense")
    assert record == {"backend": "faiss", "kind": "hnsw", "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION,
                      "efSearch": 128}
    loaded = load_dense(tmp_path / "dense", record, Settings(hnsw_ef_search=17))
    assert loaded.store.index.hnsw.efSearch == 17  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="manifest"):
        load_dense(tmp_path / "dense", {"backend": "faiss", "kind": "flat"}, Settings())


@needs_milvus
def test_faiss_and_milvus_return_the_same_ids_and_scores(tmp_path: Path) -> None:
    vectors, queries = _unit(400), _unit(20, seed=2)
    stores = [new_dense_store(Settings(index_dir=tmp_path, vector_backend=b), DIM, 400) for b in ("faiss", "milvus")]
    assert_same_hits(stores[0], stores[1], vectors, queries)


def assert_same_hits(faiss: DenseStore, milvus: DenseStore, vectors: np.ndarray, queries: np.ndarray) -> None:
    """Both stores, filled with ``vectors``, give every query the same top 10 ids and scores."""
    for store in (faiss, milvus):
        _fill(store, vectors)
    for q in queries:
        faiss_hits, milvus_hits = faiss.search(q, 10), milvus.search(q, 10)
        assert [i for i, _ in faiss_hits] == [i for i, _ in milvus_hits]
        np.testing.assert_allclose([s for _, s in faiss_hits], [s for _, s in milvus_hits], atol=1e-5)


@needs_milvus
def test_lite_generation_is_a_self_contained_database(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", vector_backend="milvus")
    store = new_dense_store(settings, DIM, 50)
    _fill(store, _unit(50))
    store.save(tmp_path / "gen" / "dense")
    (tmp_path / "gen").rename(tmp_path / "gen-renamed")  # written before the atomic rename of its generation
    record = {"backend": "milvus", "kind": "flat", "collection": "chunks", "uri": None}
    db = tmp_path / "gen-renamed" / "dense" / LITE_DB
    before = {p: p.stat().st_mtime_ns for p in db.rglob("*")}
    readers = [load_dense(tmp_path / "gen-renamed" / "dense", record, settings) for _ in range(2)]
    assert [len(r) for r in readers] == [50, 50]  # each reader opens a private copy: Milvus Lite locks its folder
    assert {p: p.stat().st_mtime_ns for p in db.rglob("*")} == before  # generations stay as written


def test_server_keeps_only_collections_of_kept_generations(milvus_server: str, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", vector_backend="milvus",
                        milvus_uri=milvus_server.replace("http://", "http://user:secret@"))
    stores = [new_dense_store(settings, DIM, 20) for _ in range(3)]
    for store in stores:
        _fill(store, _unit(20))
    records = [store.save(tmp_path / "unused") for store in stores]
    assert all("secret" not in str(r) for r in records)
    assert len({r["collection"] for r in records}) == 3
    other = Settings(index_dir=tmp_path / "other", vector_backend="milvus", milvus_uri=milvus_server)
    foreign = new_dense_store(other, DIM, 20)
    _fill(foreign, _unit(20))
    assert isinstance(stores[2], MilvusDense)
    stores[2].drop_unused(records[1:])
    names = set(stores[2].client.list_collections())
    assert names == {records[1]["collection"], records[2]["collection"], foreign.record["collection"]}


def test_missing_milvus_packages_give_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "langchain_milvus", None)
    with pytest.raises(ImportError, match=r"notesqa\[milvus\]"):
        new_dense_store(Settings(index_dir=tmp_path, vector_backend="milvus"), DIM, 10)
