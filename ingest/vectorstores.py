"""Dense vector stores behind one small interface: FAISS (exact or HNSW by size) and Milvus (Lite or a server)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
import uuid
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from langchain_core.embeddings import Embeddings

from notesqa.settings import Settings

if TYPE_CHECKING:
    import faiss

Kind = Literal["flat", "hnsw"]
Record = dict[str, Any]
"""What the manifest remembers of a generation's dense index (``Manifest.dense_index``)."""

HNSW_M = 32
"""HNSW graph degree (neighbours per node)."""
HNSW_EF_CONSTRUCTION = 80
"""HNSW build breadth."""
MILVUS_BATCH = 1000
"""Rows per Milvus insert / get request (Milvus Lite pays per request)."""
LITE_DB = "milvus.db"
"""The Milvus Lite database folder inside a generation's ``dense/``."""
LITE_COLLECTION = "chunks"
"""The one collection of a Milvus Lite database."""
VECTOR_FIELD = "vector"
"""The Milvus vector field (LangChain's default name)."""
MAX_VARCHAR = 65_535
"""Milvus VARCHAR limit in bytes (texts, ids and paths are far below it)."""


class DenseStore(Protocol):
    """What the index needs of a dense store; vectors are normalized, scores are inner products (cosines)."""

    record: Record

    def __len__(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def add(self, ids: Sequence[str], texts: Sequence[str], vectors: Any, metadatas: Sequence[dict]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]: ...

    def vectors(self, ids: Sequence[str]) -> np.ndarray: ...

    def missing(self, ids: Sequence[str]) -> list[str]: ...

    def updatable(self, n: int, deletes: bool) -> bool: ...

    def save(self, path: Path) -> Record: ...

    def drop_unused(self, keep: Sequence[Record]) -> None: ...


class _NoEmbeddings(Embeddings):
    """Stand-in model for stores loaded without one: they are searched by vector only."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("this store was loaded without an embedding model; search it by vector")

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError("this store was loaded without an embedding model; search it by vector")


def _model(embeddings: Embeddings | None) -> Embeddings:
    return embeddings if embeddings is not None else _NoEmbeddings()


def choose_kind(n: int, settings: Settings) -> Kind:
    """``"flat"`` (exact inner product) below ``settings.ann_min_chunks`` vectors, ``"hnsw"`` from there on."""
    return "hnsw" if n >= settings.ann_min_chunks else "flat"


def faiss_index(dim: int, n: int, settings: Settings) -> faiss.Index:
    """An empty inner-product FAISS index of the kind :func:`choose_kind` picks for ``n`` vectors."""
    import faiss

    if choose_kind(n, settings) == "flat":
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = settings.hnsw_ef_search
    return index


def _hnsw_record(settings: Settings) -> Record:
    return {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": settings.hnsw_ef_search}


def _batches(items: Sequence[str], size: int = MILVUS_BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class FaissDense:
    """LangChain ``FAISS`` over ``IndexFlatIP`` or ``IndexHNSWFlat``, saved as ``index.faiss`` + ``index.pkl``."""

    def __init__(self, store: Any, record: Record, settings: Settings):
        self.store = store
        self.record = record
        self.settings = settings

    @classmethod
    def create(cls, settings: Settings, dim: int, n: int, embeddings: Embeddings | None = None) -> FaissDense:
        """An empty store whose index kind suits ``n`` vectors."""
        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        kind = choose_kind(n, settings)
        store = FAISS(embedding_function=_model(embeddings), index=faiss_index(dim, n, settings),
                      docstore=InMemoryDocstore(), index_to_docstore_id={},
                      distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
        record = {"backend": "faiss", "kind": kind, **(_hnsw_record(settings) if kind == "hnsw" else {})}
        return cls(store, record, settings)

    @classmethod
    def load(cls, path: Path, record: Record, settings: Settings, embeddings: Embeddings | None = None) -> FaissDense:
        """Read a saved store; HNSW gets ``settings.hnsw_ef_search`` again (it is a search-time setting)."""
        import faiss
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        store = FAISS.load_local(str(path), _model(embeddings), allow_dangerous_deserialization=True,
                                 distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
        kind = "hnsw" if isinstance(store.index, faiss.IndexHNSW) else "flat"
        if kind != record.get("kind", "flat"):
            raise ValueError(f"the saved index is {kind}, the manifest says {record.get('kind')}")
        if kind == "hnsw":
            store.index.hnsw.efSearch = settings.hnsw_ef_search
        return cls(store, record, settings)

    def __len__(self) -> int:
        return int(self.store.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.store.index.d)

    def add(self, ids: Sequence[str], texts: Sequence[str], vectors: Any, metadatas: Sequence[dict]) -> None:
        rows = np.asarray(vectors, dtype=np.float32).tolist()
        self.store.add_embeddings(list(zip(texts, rows, strict=True)), metadatas=list(metadatas), ids=list(ids))

    def delete(self, ids: Sequence[str]) -> None:
        """Remove ``ids`` (flat only: HNSW cannot remove vectors, rebuild it from the kept ones instead)."""
        if self.record["kind"] == "hnsw":
            raise ValueError("an HNSW index cannot delete vectors; build a new store from the kept vectors")
        if ids:
            self.store.delete(list(ids))

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        hits = self.store.similarity_search_with_score_by_vector(list(map(float, vector)), k=k)
        return [(doc.metadata["chunk_id"], float(score)) for doc, score in hits]

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (rows in the same order)."""
        position = {doc_id: pos for pos, doc_id in self.store.index_to_docstore_id.items()}
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = np.fromiter((position[i] for i in ids), dtype=np.int64, count=len(ids))
        return self.store.index.reconstruct_batch(rows)

    def missing(self, ids: Sequence[str]) -> list[str]:
        known = set(self.store.index_to_docstore_id.values())
        return [i for i in ids if i not in known]

    def updatable(self, n: int, deletes: bool) -> bool:
        """Whether the next generation (``n`` vectors) may be this store changed in place."""
        kind = choose_kind(n, self.settings)
        return kind == self.record["kind"] and (kind == "flat" or not deletes)

    def save(self, path: Path) -> Record:
        self.store.save_local(str(path))
        return self.record

    def drop_unused(self, keep: Sequence[Record]) -> None:
        """Nothing lives outside the generation folders."""


def _import_milvus() -> Any:
    try:
        from langchain_milvus import Milvus
    except ImportError as exc:
        raise ImportError(
            "vector_backend='milvus' needs langchain-milvus, pymilvus and milvus-lite: "
            "pip install 'notesqa[milvus]'"
        ) from exc
    return Milvus


def _collection_prefix(index_dir: Path) -> str:
    """Collections of one index on a shared server start with this (host and index folder)."""
    where = f"{socket.gethostname()}:{Path(index_dir).resolve()}"
    return f"notesqa_{hashlib.sha1(where.encode()).hexdigest()[:12]}_"


def _without_credentials(uri: str) -> str:
    """``uri`` without ``user:password@`` (the manifest must not hold secrets)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _create_collection(connection: dict[str, str], name: str, dim: int, kind: Kind) -> None:
    """An empty, loaded collection with LangChain's field names and an inner-product index of ``kind``.

    Created here rather than by LangChain so the index request can skip pymilvus's wait for the build (an
    empty collection has nothing to build, and Milvus Lite does not implement the timestamp call it uses).
    """
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(**connection)
    try:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_VARCHAR)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim)
        for field in ("chunk_id", "source"):
            schema.add_field(field, DataType.VARCHAR, max_length=MAX_VARCHAR)
        index = client.prepare_index_params()
        hnsw = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
        index.add_index(field_name=VECTOR_FIELD, index_type=kind.upper(), metric_type="IP",
                        params=hnsw if kind == "hnsw" else {})
        client.create_collection(name, schema=schema, consistency_level="Strong")
        client.create_index(name, index, sync=False)
        client.load_collection(name)
    finally:
        client.close()


def _lite_workdir(source: Path | None = None) -> Path:
    """A private folder for a Milvus Lite database (a copy of ``source`` when given).

    Milvus Lite locks its folder for one process, so readers never open a generation's database in place:
    several processes can then read a generation, and generations stay exactly as written.
    """
    work = Path(tempfile.mkdtemp(prefix="notesqa-milvus-"))
    if source is not None:
        try:
            shutil.copytree(source, work / LITE_DB, ignore=shutil.ignore_patterns("LOCK"))
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return work


def _shutdown(client: Any, lite_dir: Path | None, move_to: Path | None = None) -> None:
    """Close the client; for Milvus Lite also stop its server (which flushes the data), move the database to
    ``move_to`` when given, and delete the working folder."""
    client.close()
    if lite_dir is None:
        return
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(lite_dir / LITE_DB))
    if move_to is not None:
        move_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(lite_dir / LITE_DB, move_to)
    shutil.rmtree(lite_dir, ignore_errors=True)


class MilvusDense:
    """LangChain ``Milvus`` over one collection that is written once, for one generation.

    Without ``settings.milvus_uri`` the collection lives in a Milvus Lite database that :meth:`save` moves into
    the generation folder; with it, each generation is a collection of its own on that server (the manifest
    names it) and :meth:`drop_unused` drops the collections no kept generation names.
    """

    def __init__(self, store: Any, record: Record, settings: Settings, lite_dir: Path | None):
        self.store = store
        self.record = record
        self.settings = settings
        self._lite_dir = lite_dir
        self._finalizer = weakref.finalize(self, _shutdown, store.client, lite_dir)

    @classmethod
    def _open(cls, settings: Settings, record: Record, uri: str, lite_dir: Path | None,
              embeddings: Embeddings | None, new_dim: int | None = None) -> MilvusDense:
        """Connect to the record's collection, creating it first when ``new_dim`` is given."""
        connection = {"uri": uri, "token": settings.milvus_token or ""}
        try:
            milvus = _import_milvus()
            if new_dim is not None:
                _create_collection(connection, record["collection"], new_dim, record["kind"])
            store = milvus(embedding_function=_model(embeddings), collection_name=record["collection"],
                           connection_args=connection, consistency_level="Strong", auto_id=False,
                           vector_field=VECTOR_FIELD)
        except BaseException:
            if lite_dir is not None:
                shutil.rmtree(lite_dir, ignore_errors=True)
            raise
        return cls(store, record, settings, lite_dir)

    @classmethod
    def create(cls, settings: Settings, dim: int, n: int, embeddings: Embeddings | None = None) -> MilvusDense:
        """A new, empty collection whose index kind suits ``n`` vectors."""
        _import_milvus()
        kind = choose_kind(n, settings)
        lite_dir = _lite_workdir() if settings.milvus_uri is None else None
        name = LITE_COLLECTION if lite_dir else _collection_prefix(settings.index_dir) + uuid.uuid4().hex[:12]
        record = {"backend": "milvus", "kind": kind, "collection": name,
                  "uri": _without_credentials(settings.milvus_uri) if settings.milvus_uri else None,
                  **(_hnsw_record(settings) if kind == "hnsw" else {})}
        uri = str(lite_dir / LITE_DB) if lite_dir else str(settings.milvus_uri)
        return cls._open(settings, record, uri, lite_dir, embeddings, new_dim=dim)

    @classmethod
    def load(cls, path: Path, record: Record, settings: Settings,
             embeddings: Embeddings | None = None) -> MilvusDense:
        """Open a generation's collection: Milvus Lite from a private copy of its database, a server's at
        ``settings.milvus_uri`` (or the recorded address when that is unset)."""
        _import_milvus()
        if record["uri"] is None:
            lite_dir = _lite_workdir(path / LITE_DB)
            return cls._open(settings, record, str(lite_dir / LITE_DB), lite_dir, embeddings)
        return cls._open(settings, record, settings.milvus_uri or record["uri"], None, embeddings)

    @property
    def client(self) -> Any:
        return self.store.client

    @property
    def collection(self) -> str:
        return str(self.record["collection"])

    def __len__(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    @property
    def dim(self) -> int:
        fields = self.client.describe_collection(self.collection)["fields"]
        return int(next(f["params"]["dim"] for f in fields if f["name"] == VECTOR_FIELD))

    def add(self, ids: Sequence[str], texts: Sequence[str], vectors: Any, metadatas: Sequence[dict]) -> None:
        rows = np.asarray(vectors, dtype=np.float32).tolist()
        self.store.add_embeddings(texts=list(texts), embeddings=rows, metadatas=list(metadatas), ids=list(ids),
                                  batch_size=MILVUS_BATCH)

    def delete(self, ids: Sequence[str]) -> None:
        for batch in _batches(ids):
            if not self.store.delete(ids=batch):
                raise RuntimeError(f"Milvus refused to delete from {self.collection}")

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        params = {"ef": max(k, self.settings.hnsw_ef_search)} if self.record["kind"] == "hnsw" else {}
        hits = self.store.similarity_search_with_score_by_vector(
            list(map(float, vector)), k=k, param={"metric_type": "IP", "params": params})
        return [(doc.metadata["chunk_id"], float(score)) for doc, score in hits]

    def _get(self, ids: Sequence[str], field: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for batch in _batches(ids):
            for row in self.client.get(self.collection, ids=batch, output_fields=[field]):
                out[row["pk"]] = row[field]
        return out

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (rows in the same order), read back from Milvus."""
        found = self._get(ids, VECTOR_FIELD)
        return np.asarray([found[i] for i in ids], dtype=np.float32).reshape(len(ids), -1)

    def missing(self, ids: Sequence[str]) -> list[str]:
        found = self._get(ids, "pk")
        return [i for i in ids if i not in found]

    def updatable(self, n: int, deletes: bool) -> bool:
        """Never: every generation gets a collection of its own, so a live one is never changed."""
        return False

    def save(self, path: Path) -> Record:
        """Make the data durable: flush the server collection, or close Milvus Lite and move its database to
        ``path``/milvus.db (the store is closed afterwards)."""
        if self._lite_dir is None:
            self.client.flush(self.collection)
        else:
            self._finalizer.detach()
            _shutdown(self.client, self._lite_dir, path / LITE_DB)
        return self.record

    def drop_unused(self, keep: Sequence[Record]) -> None:
        """Drop this index's collections on the server that no record in ``keep`` names (old generations and
        those of killed writers)."""
        if self.record["uri"] is None:
            return
        names = {r.get("collection") for r in keep}
        prefix = _collection_prefix(self.settings.index_dir)
        for name in self.client.list_collections():
            if name.startswith(prefix) and name not in names:
                self.client.drop_collection(name)


def new_dense_store(settings: Settings, dim: int, n: int, embeddings: Embeddings | None = None) -> DenseStore:
    """An empty store of ``settings.vector_backend`` sized for ``n`` vectors."""
    backend = FaissDense if settings.vector_backend == "faiss" else MilvusDense
    return backend.create(settings, dim, n, embeddings)


def load_dense(path: Path, record: Record, settings: Settings, embeddings: Embeddings | None = None) -> DenseStore:
    """Open the dense store a manifest ``record`` describes (files under ``path``)."""
    backend = {"faiss": FaissDense, "milvus": MilvusDense}.get(record.get("backend", ""))
    if backend is None:
        raise ValueError(f"unknown vector backend {record.get('backend')!r}")
    return backend.load(path, record, settings, embeddings)
