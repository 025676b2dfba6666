"""``ingest(settings, paths)``: load notes, chunk, embed what is new, and swap in a new index generation."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ingest.chunking import Chunk, Chunker
from ingest.loaders import NOTE_SUFFIXES, Note, NotesError, Skipped, load_notes
from ingest.store import (
    FileEntry,
    Index,
    IndexMissingError,
    Manifest,
    load_index,
    read_manifest,
    remove_leftovers,
    signature,
    verify_generation,
    write_generation,
    writer_lock,
)
from ingest.vectorstores import DenseStore, new_dense_store
from notesqa.settings import Settings

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage is "files" or "chunks"."""


@dataclass
class FileReport:
    """What one ingest found in one file (``notesqa ingest --report``)."""

    source: str
    status: str
    """added, changed, unchanged, removed or skipped."""
    chunks: int = 0
    title: str = ""
    tags: list[str] = field(default_factory=list)
    links: int = 0
    """How many notes it links to or embeds."""
    pages: int = 0
    reason: str = ""
    """Why a skipped file was skipped."""

    def describe(self) -> str:
        """One line for people."""
        if self.status == "skipped":
            return f"skipped    {self.source}: {self.reason}"
        if self.status == "removed":
            return f"removed    {self.source}"
        parts = [_count(self.chunks, "chunk"), f"title {self.title!r}"]
        parts += [f"tags {', '.join(self.tags)}"] if self.tags else []
        parts += [_count(self.links, "link")] if self.links else []
        parts += [_count(self.pages, "page")] if self.pages else []
        return f"{self.status:<10} {self.source}: {' · '.join(parts)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class IngestReport:
    """What one ingest did (the ``--json`` output is :meth:`summary`)."""

    files_added: int = 0
    files_changed: int = 0
    files_removed: int = 0
    files_unchanged: int = 0
    files_skipped: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    rebuilt: bool = False
    files: list[FileReport] = field(default_factory=list)
    """Every file in scope, in source order (the ``--report`` listing)."""

    def summary(self, per_file: bool = False) -> dict[str, object]:
        """The counts; with ``per_file``, also ``files``: one :class:`FileReport` record per file."""
        data = asdict(self)
        for key in ("skipped", "rebuilt", "files"):
            data.pop(key)
        data["seconds"] = round(self.seconds, 3)
        if per_file:
            data["files"] = [asdict(f) for f in self.files]
        return data

    def describe(self) -> str:
        """One line for people (the CLI and the UI show the same)."""
        return (f"{self.files_added} added, {self.files_changed} changed, {self.files_removed} removed, "
                f"{self.files_unchanged} unchanged, {self.files_skipped} skipped; {self.chunks_embedded} chunks "
                f"embedded, {self.chunks_total} in the index ({self.seconds:.2f} s).")


def _resolve_scope(settings: Settings, paths: Sequence[Path], recorded_root: str | None) -> tuple[Path, list[Path]]:
    """Return (root, scope): sources are relative to root; files under scope are what this run looks at."""
    if not paths:
        root = Path(recorded_root) if recorded_root else settings.corpus_dir
        if not root.exists():
            raise NotesError(f"Notes folder {root} does not exist.")
        return root.resolve(), [root.resolve()]
    resolved = [Path(p).expanduser().resolve() for p in paths]
    for p in resolved:
        if not p.exists():
            raise NotesError(f"{p} does not exist.")
    if len(resolved) == 1 and resolved[0].is_dir():
        return resolved[0], resolved
    root = Path(recorded_root or settings.corpus_dir).resolve()
    for p in resolved:
        if not p.is_relative_to(root):
            raise NotesError(f"{p} is not inside the notes folder {root}; ingest that folder instead.")
    return root, resolved


def _in_scope(source: str, root: Path, scope: list[Path]) -> bool:
    path = root / source
    return any(path == s or path.is_relative_to(s) for s in scope)


def _text_key(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.embed_text.encode()).hexdigest()


def _metadata(chunk: Chunk) -> dict[str, str]:
    return {"chunk_id": chunk.id, "source": chunk.source}


def _next_dense(settings: Settings, current: Index | None, kept: list[Chunk], dropped_ids: list[str],
                total: int, dim: int, embeddings: Embeddings) -> DenseStore:
    """The store the next generation is written from (``kept`` in it, new chunks still to add).

    The current store changed in place when it can be (exact FAISS; HNSW when nothing is deleted), otherwise a
    new store, of the kind that suits ``total`` vectors, filled with the kept vectors: HNSW cannot delete,
    Milvus writes a collection per generation, and crossing ``ann_min_chunks`` changes the kind.
    """
    if current is not None and current.dense.updatable(total, bool(dropped_ids)):
        current.dense.delete(dropped_ids)
        return current.dense
    dense = new_dense_store(settings, dim, total, embeddings)
    if kept and current is not None:
        ids = [c.id for c in kept]
        dense.add(ids, [c.embed_text for c in kept], current.vectors(ids), [_metadata(c) for c in kept])
    return dense


def ingest(
    settings: Settings,
    paths: Sequence[Path] = (),
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    lock_wait_s: float = 0.0,
) -> IngestReport:
    """Bring the index at ``settings.index_dir`` in line with the notes; embed only what is new."""
    t0 = time.perf_counter()
    index_dir = settings.index_dir
    with writer_lock(index_dir, lock_wait_s):
        remove_leftovers(index_dir)
        old_manifest: Manifest | None = None
        if not rebuild:
            try:
                old_manifest = read_manifest(index_dir)
            except IndexMissingError:
                old_manifest = None
        root, scope = _resolve_scope(settings, paths, old_manifest.root if old_manifest else None)
        if old_manifest and Path(old_manifest.root) != root:
            old_manifest = None  # another folder: this index now mirrors it
        sig = signature(settings)
        compatible = old_manifest is not None and old_manifest.signature == sig
        old_files = old_manifest.files if compatible and old_manifest else {}
        notes, skipped = load_notes(scope, root, int(settings.max_note_mb * 1_000_000),
                                    known={s: f.sha256 for s, f in old_files.items()})
        report = IngestReport(files_skipped=len(skipped), skipped=skipped, rebuilt=not compatible)
        if not notes and not (old_manifest and old_manifest.files):
            where = ", ".join(str(s) for s in scope)
            kinds = ", ".join(sorted(NOTE_SUFFIXES))
            raise NotesError(f"No notes ({kinds}) with text found in {where}.")

        found = {n.source: n for n in notes}
        skipped_sources = {s.source for s in skipped}
        added = [n for n in notes if n.source not in old_files]
        changed = [n for n in notes if n.source in old_files and old_files[n.source].sha256 != n.sha256]
        removed = [
            s for s in old_files
            if s not in found and s not in skipped_sources and _in_scope(s, root, scope)
        ]
        report.files_added, report.files_changed, report.files_removed = len(added), len(changed), len(removed)
        report.files_unchanged = sum(
            1 for n in notes if n.source in old_files and old_files[n.source].sha256 == n.sha256
        )
        if compatible and not (added or changed or removed):
            verify_generation(index_dir)  # nothing to do only if the live index is intact
            report.chunks_total = old_manifest.chunk_count if old_manifest else 0
            files = old_files
        else:
            files = _write(settings, sig, root, old_manifest if compatible else None, added + changed,
                           changed, removed, report, progress)
        status = {**{n.source: "unchanged" for n in notes}, **{n.source: "added" for n in added},
                  **{n.source: "changed" for n in changed}, **dict.fromkeys(removed, "removed")}
        report.files = _file_reports(status, files, skipped)
        report.seconds = time.perf_counter() - t0
        return report


def _file_reports(status: dict[str, str], files: dict[str, FileEntry], skipped: list[Skipped]) -> list[FileReport]:
    """One report per file: its status, and what the index holds of it (for skipped files, the reason)."""
    out = [FileReport(s.source, "skipped", reason=s.reason) for s in skipped]
    for source, state in status.items():
        entry = files.get(source)
        if entry is None or state == "removed":
            out.append(FileReport(source, state))
        else:
            out.append(FileReport(source, state, len(entry.chunk_ids), entry.title, list(entry.tags),
                                  len(entry.links), entry.pages))
    return sorted(out, key=lambda f: f.source)


def _file_entry(note: Note, chunks: list[Chunk]) -> FileEntry:
    """The manifest's record of a note just chunked."""
    meta = note.meta
    return FileEntry(note.sha256, [c.id for c in chunks], note.encoding, chunks[0].title if chunks else meta.title,
                     time.time(), list(meta.tags), list(meta.aliases), list(meta.links), dict(meta.dates),
                     meta.pages)


def _write(settings: Settings, sig: dict[str, object], root: Path, old: Manifest | None,
           to_chunk: list[Note], changed: list[Note], removed: list[str], report: IngestReport,
           progress: Progress | None) -> dict[str, FileEntry]:
    """Chunk and embed what changed, write the new generation, and return its file records."""
    from ingest.embeddings import get_embeddings
    from ingest.model_files import model_folder
    from ingest.sparse import SparseIndex, tokenize
    from ingest.token_counter import TokenCounter

    embeddings = get_embeddings(settings)
    chunker = Chunker.from_settings(TokenCounter(model_folder(settings)), settings)
    if old is not None:
        current = load_index(settings.index_dir, embeddings, settings=settings)
        files = dict(old.files)
        chunks = [current.chunks[cid] for cid in current.order]
        tokens = [current.tokens[cid] for cid in current.order]
        dim = old.dim
    else:
        current, files, chunks, tokens, dim = None, {}, [], [], 0

    # 1. drop chunks of removed and changed notes, remembering their vectors for reuse (renames, edits)
    dropped_sources = set(removed) | {n.source for n in changed}
    dropped_ids = [cid for s in dropped_sources for cid in files[s].chunk_ids]
    reusable: dict[str, list[float]] = {}
    if current is not None and dropped_ids:
        vectors = current.vectors(dropped_ids)
        for cid, vec in zip(dropped_ids, vectors, strict=True):
            reusable[_text_key(current.chunks[cid])] = vec.tolist()
        dropped = set(dropped_ids)
        keep = [i for i, c in enumerate(chunks) if c.id not in dropped]
        chunks, tokens = [chunks[i] for i in keep], [tokens[i] for i in keep]
    for s in dropped_sources:
        files.pop(s, None)

    # 2. chunk new and changed notes
    new_chunks: list[Chunk] = []
    for done, note in enumerate(to_chunk, 1):
        note_chunks = chunker.split(note.text, note.source, note.outline())
        new_chunks.extend(note_chunks)
        files[note.source] = _file_entry(note, note_chunks)
        if progress:
            progress("files", done, len(to_chunk))

    # 3. embed only texts whose vector we do not already have
    todo = [c for c in new_chunks if _text_key(c) not in reusable]
    vectors: dict[str, list[float]] = {}
    batch = max(1, settings.embed_batch_size * 16)  # the embedder sorts each group by length into batches
    for i in range(0, len(todo), batch):
        part = todo[i : i + batch]
        for c, vec in zip(part, embeddings.embed_documents([c.embed_text for c in part]), strict=True):
            vectors[c.id] = vec
        if progress:
            progress("chunks", min(i + batch, len(todo)), len(todo))
    for c in new_chunks:
        vectors.setdefault(c.id, reusable.get(_text_key(c), []))
    report.chunks_embedded = len(todo)

    if current is None:
        dim = len(next(iter(vectors.values()))) if vectors else embeddings.dimension
    dense = _next_dense(settings, current, chunks, dropped_ids, len(chunks) + len(new_chunks), dim, embeddings)
    if new_chunks:
        dense.add([c.id for c in new_chunks], [c.embed_text for c in new_chunks],
                  [vectors[c.id] for c in new_chunks], [_metadata(c) for c in new_chunks])
    chunks.extend(new_chunks)
    tokens.extend(tokenize(c.embed_text) for c in new_chunks)
    sparse = SparseIndex.build(tokens, [c.id for c in chunks])
    manifest = Manifest(signature=sig, root=str(root), dim=dim, files=files,
                        generation=old.generation if old else 0)
    write_generation(settings.index_dir, manifest, chunks, tokens, dense, sparse)
    report.chunks_total = len(chunks)
    return files
