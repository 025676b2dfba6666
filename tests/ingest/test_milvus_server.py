"""The Milvus path on a real Milvus server (2.3 standalone from the ``milvus`` package, over gRPC on 127.0.0.1,
authentication on), not Milvus Lite: credentials are checked, FAISS and the server agree, a generation's
collection outlives its writer and a server restart, credentials in the URI authenticate without reaching the
manifest, and incremental re-ingest reuses vectors and keeps only the live generations' collections. The
store round trip (add, search, read back, save/load, delete) runs on this server in test_vectorstores.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import ingest
from ingest.store import GEN_PREFIX, load_index, read_manifest
from ingest.vectorstores import DenseStore, _collection_prefix, load_dense, new_dense_store
from notesqa.settings import Settings
from tests.helpers.milvus_standalone import TOKEN, MilvusStandalone
from tests.ingest.test_pipeline import _consistent
from tests.ingest.test_vectorstores import DIM, _fill, _unit, assert_same_hits

pytestmark = [pytest.mark.milvus_server, pytest.mark.slow]


def _settings(server: MilvusStandalone, index_dir: Path, **update: object) -> Settings:
    fields = {"index_dir": index_dir, "vector_backend": "milvus", "milvus_uri": server.uri, "milvus_token": TOKEN}
    return Settings(**{**fields, **update})


def _collections(server: MilvusStandalone) -> set[str]:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=server.uri, token=TOKEN)
    try:
        return set(client.list_collections())
    finally:
        client.close()


def test_the_server_is_milvus_standalone_and_checks_credentials(milvus_standalone: MilvusStandalone,
                                                                tmp_path: Path) -> None:
    from pymilvus import MilvusClient, MilvusException

    client = MilvusClient(uri=milvus_standalone.uri, token=TOKEN)
    try:
        assert client.get_server_version().startswith("v2.3.")
    finally:
        client.close()
    for token in ("", "root:wrong"):
        with pytest.raises(MilvusException):
            MilvusClient(uri=milvus_standalone.uri, token=token)
    with pytest.raises(MilvusException):
        new_dense_store(_settings(milvus_standalone, tmp_path / "index", milvus_token="root:wrong"), DIM, 10)


def test_faiss_and_the_server_return_the_same_ids_and_scores(milvus_standalone: MilvusStandalone,
                                                             tmp_path: Path) -> None:
    vectors, queries = _unit(400), _unit(20, seed=2)
    assert_same_hits(new_dense_store(Settings(index_dir=tmp_path), DIM, 400),
                     new_dense_store(_settings(milvus_standalone, tmp_path / "index"), DIM, 400), vectors, queries)


def test_a_generation_outlives_its_writer_and_a_server_restart(milvus_standalone: MilvusStandalone,
                                                               tmp_path: Path) -> None:
    settings = _settings(milvus_standalone, tmp_path / "index", ann_min_chunks=10)
    vectors = _unit(300)
    writer = new_dense_store(settings, DIM, len(vectors))
    ids = _fill(writer, vectors)
    top = writer.search(vectors[7], 3)
    record = writer.save(tmp_path / "dense")  # a server collection is flushed, nothing is written here
    assert record["kind"] == "hnsw" and record["uri"] == milvus_standalone.uri
    del writer  # its client is closed

    def check(store: DenseStore) -> None:
        assert (len(store), store.dim) == (300, DIM)
        np.testing.assert_allclose(store.vectors(ids), vectors, atol=1e-6)
        hits = store.search(vectors[7], 3)
        assert [i for i, _ in hits] == [i for i, _ in top]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in top], atol=1e-5)

    # a reader knows only the manifest's record (the address is in it) and the credentials
    check(load_dense(tmp_path / "dense", record, Settings(vector_backend="milvus", milvus_token=TOKEN)))
    milvus_standalone.restart()  # killed after 1 s, as a crash would
    # a port still held by the old connections' TIME_WAIT moves the server on: settings name the new address
    check(load_dense(tmp_path / "dense", record, settings.model_copy(update={"milvus_uri": milvus_standalone.uri})))


def test_credentials_in_the_uri_authenticate_and_stay_out_of_the_manifest(milvus_standalone: MilvusStandalone,
                                                                        tmp_path: Path) -> None:
    uri = milvus_standalone.uri.replace("http://", f"http://{TOKEN}@")
    settings = Settings(index_dir=tmp_path / "index", vector_backend="milvus", milvus_uri=uri)
    stores = [new_dense_store(settings, DIM, 20) for _ in range(2)]
    for store in stores:
        _fill(store, _unit(20))
    records = [store.save(tmp_path / "unused") for store in stores]
    assert all(r["uri"] == milvus_standalone.uri for r in records)  # no credentials in the manifest
    foreign = new_dense_store(_settings(milvus_standalone, tmp_path / "other"), DIM, 20)  # another index's
    stores[1].drop_unused(records[1:])
    names = _collections(milvus_standalone)
    assert records[0]["collection"] not in names
    assert {records[1]["collection"], foreign.record["collection"]} <= names


def test_incremental_reingest_on_the_server(milvus_standalone: MilvusStandalone, settings: Settings) -> None:
    """The pipeline on the server: only new and changed chunks are embedded, a rename embeds nothing, and the
    server keeps the collections of the live and the previous generation of this index, no others."""
    settings = settings.model_copy(
        update={"vector_backend": "milvus", "milvus_uri": milvus_standalone.uri, "milvus_token": TOKEN})

    def kept_collections() -> None:
        prefix = _collection_prefix(settings.index_dir)
        on_server = {n for n in _collections(milvus_standalone) if n.startswith(prefix)}
        gens = settings.index_dir.glob(f"{GEN_PREFIX}*/manifest.json")
        assert on_server == {json.loads(m.read_text("utf-8"))["dense_index"]["collection"] for m in gens}

    first = ingest(settings)
    assert (first.files_added, first.chunks_embedded) == (5, first.chunks_total)
    gen = read_manifest(settings.index_dir).generation
    again = ingest(settings)
    assert again.chunks_embedded == 0 and read_manifest(settings.index_dir).generation == gen

    note = settings.corpus_dir / "002_0e9310b01a6dc153.txt"
    note.write_text(note.read_text(encoding="utf-8") + "\n\n新增的一段笔记：向量检索需要增量更新。\n", encoding="utf-8")
    changed = ingest(settings)
    per_file = len(read_manifest(settings.index_dir).files[note.name].chunk_ids)
    assert changed.files_changed == 1 and 1 <= changed.chunks_embedded <= per_file
    assert _consistent(settings) == changed.chunks_total
    kept_collections()

    os.rename(settings.corpus_dir / "000_330fc9d37bdba89e.txt", settings.corpus_dir / "renamed.txt")
    renamed = ingest(settings)
    assert (renamed.files_added, renamed.files_removed, renamed.chunks_embedded) == (1, 1, 0)
    assert _consistent(settings) == changed.chunks_total

    (settings.corpus_dir / "003_789153256f2197d6.txt").unlink()
    removed = ingest(settings)
    assert removed.files_removed == 1 and removed.chunks_embedded == 0
    assert _consistent(settings) == removed.chunks_total < changed.chunks_total
    kept_collections()
    index = load_index(settings.index_dir, settings=settings)
    some = next(iter(index.chunks))
    assert index.dense_search(index.dense.vectors([some])[0], 1)[0][0] == some
