"""The index directory: manifest, dense (FAISS) and sparse (BM25) stores, atomic generations, writer lock.

Layout of ``index_dir``::

    CURRENT            name of the live generation (replaced atomically with os.replace)
    gen-000007/        one immutable generation
        manifest.json  format, signature (embedding model, chunk settings, backend), root, files, dim, dense_index
        chunks.jsonl   every chunk (+ its BM25 tokens), in BM25 row order
        dense/         LangChain FAISS store (index.faiss + index.pkl) or a Milvus Lite database (milvus.db);
                       with a Milvus server, ``dense_index`` names the generation's collection instead
        sparse/        bm25s index
    .lock              single-writer lock (fcntl)

Only this module (and ``ingest.vectorstores``, for ``dense/``) reads or writes files inside an index directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import CHUNKER_VERSION, Chunk, TableSpan, table_spans
from ingest.sparse import TOKENIZER_VERSION, SparseIndex
from ingest.vectorstores import DenseStore, Record, load_dense
from notesqa.settings import Settings

INDEX_FORMAT = 1
CURRENT = "CURRENT"
GEN_PREFIX = "gen-"


class IndexMissingError(FileNotFoundError):
    """There is no index yet at this path."""


class IndexCorruptError(RuntimeError):
    """The index directory exists but cannot be trusted; ``notesqa ingest --rebuild`` recovers."""


class IndexLockedError(RuntimeError):
    """Another process is writing this index."""


class IndexWriteError(OSError):
    """A new generation could not be written (disk full, permissions); the previous one is still live."""


@dataclass
class FileEntry:
    """What the manifest remembers of one note."""

    sha256: str
    chunk_ids: list[str]
    encoding: str
    title: str
    ingested_at: float
    tags: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    """What the note says about itself (:class:`ingest.documents.NoteMeta`); absent in older manifests."""


@dataclass
class Manifest:
    """The record of one generation: what was ingested and how."""

    signature: dict[str, Any]
    root: str
    dim: int
    files: dict[str, FileEntry] = field(default_factory=dict)
    generation: int = 0
    dense_index: Record = field(default_factory=lambda: {"backend": "faiss", "kind": "flat"})
    """Backend and index kind of the dense vectors (+ HNSW parameters, Milvus collection)."""
    checksums: dict[str, list[Any]] = field(default_factory=dict)
    """[size, blake2b] of every other file of the generation, to detect truncated or damaged files."""
    created: float = field(default_factory=time.time)
    format: int = INDEX_FORMAT

    @property
    def chunk_count(self) -> int:
        return sum(len(f.chunk_ids) for f in self.files.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if data.get("format") != INDEX_FORMAT:
            raise IndexCorruptError(f"index format {data.get('format')} is not {INDEX_FORMAT}")
        data["files"] = {k: FileEntry(**v) for k, v in data["files"].items()}
        return cls(**data)


def _corrupt(index_dir: Path, why: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"The index at {index_dir} is damaged ({why}). Run `notesqa ingest --rebuild` to recreate it."
    )


def current_generation(index_dir: Path) -> Path:
    """The live generation folder, or ``IndexMissingError`` / ``IndexCorruptError``."""
    index_dir = Path(index_dir)
    marker = index_dir / CURRENT
    if not marker.is_file():
        if index_dir.is_dir() and any(index_dir.glob(GEN_PREFIX + "*")):
            raise _corrupt(index_dir, "CURRENT marker missing")
        raise IndexMissingError(f"No index at {index_dir}. Run `notesqa ingest` first.")
    name = marker.read_text().strip()
    gen = index_dir / name
    if not name.startswith(GEN_PREFIX) or not gen.is_dir():
        raise _corrupt(index_dir, f"CURRENT points at missing generation {name!r}")
    return gen


def read_manifest(index_dir: Path) -> Manifest:
    """Load only the manifest of the live generation (cheap: no vectors)."""
    return _manifest_of(current_generation(index_dir), index_dir)


def _manifest_of(gen: Path, index_dir: Path) -> Manifest:
    try:
        return Manifest.from_json((gen / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _corrupt(Path(index_dir), "manifest.json missing") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise _corrupt(Path(index_dir), f"manifest.json unreadable: {exc}") from exc


def _chunk_from_record(rec: dict[str, Any]) -> Chunk:
    # an index written before chunks stored their tables (chunker version 2) is read as it was built: the
    # tables are parsed once here, and the next ingest rebuilds it
    tables = tuple(TableSpan(**t) for t in rec["tables"]) if "tables" in rec else table_spans(rec["text"])
    return Chunk(
        rec["id"],
        rec["source"],
        rec["title"],
        tuple(rec["headings"]),
        rec["start"],
        rec["end"],
        rec["text"],
        rec.get("context", ""),
        rec.get("position", 0),
        tables,
        tuple(rec.get("lines", ())),
    )


def _chunk_record(chunk: Chunk, tokens: list[str]) -> dict[str, Any]:
    rec = asdict(chunk)
    rec["headings"] = list(chunk.headings)
    rec["tables"] = [asdict(t) for t in chunk.tables]
    rec["lines"] = list(chunk.lines)
    rec["tokens"] = tokens
    return rec


class Index:
    """One loaded, immutable generation: chunks, dense vectors, BM25. Safe to share between threads."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        chunks: list[Chunk],
        tokens: list[list[str]],
        dense: DenseStore,
        sparse: SparseIndex,
    ):
        self.path = path
        self.manifest = manifest
        self.order = [c.id for c in chunks]
        self.chunks = {c.id: c for c in chunks}
        self.tokens = dict(zip(self.order, tokens, strict=True))
        self.dense = dense
        self.sparse = sparse
        self._by_note: dict[str, list[Chunk]] | None = None

    @property
    def root(self) -> Path:
        return Path(self.manifest.root)

    def __len__(self) -> int:
        return len(self.order)

    def dense_search(self, vector: list[float] | np.ndarray, k: int,
                     only: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, cosine) by inner product of normalized vectors; with ``only``, among those
        chunks alone (exactly, over their stored vectors)."""
        if only is None:
            if not self.order:
                return []
            return self.dense.search(list(map(float, vector)), min(k, len(self)))
        ids = [i for i in self.order if i in only]
        if not ids:
            return []
        scores = self.vectors(ids) @ np.asarray(vector, dtype=np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return [(ids[int(i)], float(scores[i])) for i in best]

    def sparse_search(self, query: str, k: int, only: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, BM25 score) with a positive score; with ``only``, among those chunks alone."""
        if only is None:
            return self.sparse.search(query, k)
        scores = self.sparse.scores(query)
        rows = [r for r, i in enumerate(self.sparse.ids) if i in only and r < len(scores) and scores[r] > 0]
        rows.sort(key=lambda r: -scores[r])
        return [(self.sparse.ids[r], float(scores[r])) for r in rows[:k]]

    def link(self, source: str) -> str:
        """A link that opens the note in the app it lives in (an Obsidian vault), or ``""``."""
        from ingest.vault import obsidian_link

        return obsidian_link(self.root, source)

    def tags_by_note(self) -> dict[str, list[str]]:
        """Each note's tags (front matter and ``#tags``), as the manifest keeps them."""
        return {source: entry.tags for source, entry in self.manifest.files.items()}

    def vectors(self, ids: list[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (rows in the same order)."""
        return self.dense.vectors(ids)

    def _notes(self) -> dict[str, list[Chunk]]:
        """Each note's chunks in order (worked out once per loaded generation)."""
        if self._by_note is None:
            by_note: dict[str, list[Chunk]] = {}
            for c in sorted(self.chunks.values(), key=lambda c: c.position):
                by_note.setdefault(c.source, []).append(c)
            self._by_note = by_note
        return self._by_note

    def note_chunks(self, source: str) -> list[Chunk]:
        """The chunks of one note, in order."""
        return self._notes().get(source, [])

    def before(self, chunk: Chunk) -> Chunk | None:
        """The chunk right before ``chunk`` in its note, if any."""
        return next((c for c in self.note_chunks(chunk.source) if c.position == chunk.position - 1), None)

    def note_text(self, source: str) -> str:
        """The current text of a note, read the way ingest reads it (rendered markdown, a PDF's text layer),
        so chunk offsets index into it: for showing a passage in its note. ``ValueError`` when it has none."""
        from ingest.loaders import shown_text

        path = (self.root / source).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{source} is outside the notes folder")
        return shown_text(path)


def signature(settings: Settings) -> dict[str, object]:
    """Everything that makes stored vectors/chunks incompatible when it changes."""
    from ingest.embeddings import model_id
    from ingest.onnx_export import ONNX_EXPORT_VERSION

    sig: dict[str, object] = {
        "embed_model": model_id(settings),
        "chunk_target_tokens": settings.chunk_target_tokens,
        "chunk_max_tokens": settings.chunk_max_tokens,
        "chunk_overlap_sentences": settings.chunk_overlap_sentences,
        "chunker_version": CHUNKER_VERSION,
        "vector_backend": settings.vector_backend,
        "bm25_tokenizer": TOKENIZER_VERSION,
    }
    if settings.embed_backend == "onnx-int8":
        # int8 vectors differ from fp32 ones and from another export's int8 ones; torch and onnx (both fp32)
        # give the same vectors, so they share indexes, and indexes built before this key existed stay valid
        sig["embed_backend"] = settings.embed_backend
        sig["onnx_export"] = ONNX_EXPORT_VERSION
    return sig


def load_index(index_dir: Path, embeddings: Any = None, *, settings: Settings) -> Index:
    """Load the live generation, checking it against its manifest.

    ``settings`` supplies what is not stored in the index (Milvus credentials, HNSW ``efSearch``).
    """
    index_dir = Path(index_dir)
    gen = current_generation(index_dir)
    manifest = verify_generation(index_dir, gen)  # this generation's, even if CURRENT moves meanwhile
    chunks: list[Chunk] = []
    tokens: list[list[str]] = []
    try:
        with open(gen / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                tokens.append(rec.pop("tokens"))
                chunks.append(_chunk_from_record(rec))
    except FileNotFoundError as exc:
        raise _corrupt(index_dir, "chunks.jsonl missing") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise _corrupt(index_dir, f"chunks.jsonl unreadable: {exc}") from exc
    ids = [c.id for c in chunks]
    expected = {cid for f in manifest.files.values() for cid in f.chunk_ids}
    if set(ids) != expected or len(ids) != len(expected):
        raise _corrupt(index_dir, "chunks do not match the manifest")
    try:
        dense = load_dense(gen / "dense", manifest.dense_index, settings, embeddings)
        unmatched = len(dense) != len(ids) or bool(dense.missing(ids))
        dim = dense.dim
    except ImportError:
        raise
    except Exception as exc:
        raise _corrupt(index_dir, f"dense store unreadable: {type(exc).__name__}: {exc}") from exc
    if unmatched:
        raise _corrupt(index_dir, "dense vectors do not match the manifest")
    if ids and dim != manifest.dim:
        raise _corrupt(index_dir, f"vector dimension {dim} != manifest {manifest.dim}")
    try:
        sparse = SparseIndex.load(gen / "sparse", ids)
    except Exception as exc:
        raise _corrupt(index_dir, f"BM25 index unreadable: {type(exc).__name__}: {exc}") from exc
    return Index(gen, manifest, chunks, tokens, dense, sparse)


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _checksums(gen: Path) -> dict[str, list[Any]]:
    return {
        p.relative_to(gen).as_posix(): [p.stat().st_size, _digest(p)]
        for p in sorted(gen.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def verify_generation(index_dir: Path, gen: Path | None = None) -> Manifest:
    """Check every file of generation ``gen`` (default: the live one) against the sizes and digests in its
    manifest (older manifests without checksums pass); returns the manifest or raises ``IndexCorruptError``."""
    index_dir = Path(index_dir)
    gen = gen or current_generation(index_dir)
    manifest = _manifest_of(gen, index_dir)
    for rel, (size, digest) in manifest.checksums.items():
        path = gen / rel
        if not path.is_file():
            raise _corrupt(index_dir, f"{rel} missing")
        if path.stat().st_size != size or _digest(path) != digest:
            raise _corrupt(index_dir, f"{rel} does not match its checksum")
    return manifest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    tokens: list[list[str]],
    dense: DenseStore,
    sparse: SparseIndex,
) -> Path:
    """Write a complete new generation beside the live one, then switch CURRENT to it atomically.

    A crash at any point leaves CURRENT on the previous, complete generation.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    existing = [
        int(p.name[len(GEN_PREFIX) :].split(".")[0])
        for p in index_dir.glob(GEN_PREFIX + "*")
        if p.name[len(GEN_PREFIX) :].split(".")[0].isdigit()
    ]
    manifest.generation = max([manifest.generation, *existing]) + 1
    name = f"{GEN_PREFIX}{manifest.generation:06d}"
    tmp = index_dir / f"{name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for chunk, toks in zip(chunks, tokens, strict=True):
                fh.write(json.dumps(_chunk_record(chunk, toks), ensure_ascii=False) + "\n")
        manifest.dense_index = dense.save(tmp / "dense")
        sparse.save(tmp / "sparse")
        manifest.checksums = _checksums(tmp)
        (tmp / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        _fsync_tree(tmp)
    except OSError as exc:
        _remove(tmp)
        raise IndexWriteError(
            exc.errno,
            f"Could not write the index at {index_dir} ({exc.strerror or exc}); the previous index is "
            "unchanged. Free some space (or fix permissions) and ingest again.",
        ) from exc
    final = index_dir / name
    os.replace(tmp, final)
    try:
        previous = (index_dir / CURRENT).read_text().strip()
    except OSError:
        previous = ""
    marker_tmp = index_dir / f"{CURRENT}.tmp{os.getpid()}"
    marker_tmp.write_text(name)
    with open(marker_tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(marker_tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _collect_garbage(index_dir, keep={name, previous})
    dense.drop_unused(_dense_records(index_dir, [n for n in (name, previous) if n]))
    return final


def _dense_records(index_dir: Path, names: list[str]) -> list[Record]:
    """The dense index records of the named generations that still have a readable manifest."""
    records = []
    for name in names:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, IndexCorruptError):
            records.append(Manifest.from_json((index_dir / name / "manifest.json").read_text("utf-8")).dense_index)
    return records


def _collect_garbage(index_dir: Path, keep: set[str]) -> None:
    """Remove old generations and leftovers of crashed writers; keep the live generation and the one that
    was live before it (a reader may still be loading it)."""
    for p in index_dir.iterdir():
        if (p.name.startswith(GEN_PREFIX) and p.name not in keep) or p.name.startswith(CURRENT + ".tmp"):
            _remove(p)


def remove_leftovers(index_dir: Path) -> None:
    """Delete half-written files of writers that were killed (call with the writer lock held)."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return
    for p in index_dir.iterdir():
        if ".tmp" in p.name and (p.name.startswith(GEN_PREFIX) or p.name.startswith(CURRENT)):
            _remove(p)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def writer_lock(index_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the single-writer lock of an index (waits up to ``wait_s`` seconds, then IndexLockedError)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = open(index_dir / ".lock", "a+")  # noqa: SIM115 - held for the duration of the context
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() >= deadline:
                    raise IndexLockedError(
                        f"Another ingest is writing {index_dir}; try again when it has finished."
                    ) from exc
                time.sleep(0.2)
        yield
    finally:
        fh.close()
