"""Managing the notes folder from the UI: list notes with their index status, add uploads, retire notes."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.loaders import TEXT_SUFFIXES, NotesError, decode, iter_note_files
from ingest.store import IndexCorruptError, IndexMissingError, Manifest, read_manifest
from notesqa.settings import Settings
from notesqa.text import CJK_CHARS

TRASH = ".trash"
"""Hidden folder inside the notes folder where deleted notes are moved (the loader skips hidden folders)."""


@dataclass(frozen=True)
class NoteInfo:
    source: str
    title: str
    chunks: int
    ingested: str
    """When the note's current content was ingested, or "not ingested"."""


def _manifest(settings: Settings) -> Manifest | None:
    try:
        return read_manifest(settings.index_dir)
    except (IndexMissingError, IndexCorruptError):
        return None


def notes_root(settings: Settings, manifest: Manifest | None = None) -> Path:
    """The folder the index mirrors (the configured corpus folder before the first ingest)."""
    manifest = manifest or _manifest(settings)
    return Path(manifest.root) if manifest else Path(settings.corpus_dir).resolve()


def list_notes(settings: Settings) -> list[NoteInfo]:
    """Notes in the folder, with the index's view of each (chunks, title, last ingested)."""
    manifest = _manifest(settings)
    root = notes_root(settings, manifest)
    files = manifest.files if manifest else {}
    out = []
    seen = set()
    if root.is_dir():
        for path in iter_note_files(root):
            src = path.relative_to(root.resolve()).as_posix()
            seen.add(src)
            entry = files.get(src)
            out.append(
                NoteInfo(
                    src,
                    entry.title if entry else "",
                    len(entry.chunk_ids) if entry else 0,
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.ingested_at)) if entry else "not ingested",
                )
            )
    out += [
        NoteInfo(s, e.title, len(e.chunk_ids), "file missing: re-ingest to drop it")
        for s, e in files.items()
        if s not in seen
    ]
    return out


def safe_name(filename: str) -> str:
    """A plain file name for an upload: no folders, no traversal, no hidden or odd characters."""
    name = Path(filename.replace("\\", "/")).name
    name = re.sub(rf"[^\w.\- (){CJK_CHARS}]", "_", name).strip(" .")
    if not name or name.startswith("."):
        raise NotesError(f"{filename!r} is not a usable file name.")
    if Path(name).suffix.lower() not in TEXT_SUFFIXES:
        raise NotesError(f"{name}: only .md, .markdown and .txt notes can be added.")
    return name


def add_note(settings: Settings, filename: str, data: bytes) -> Path:
    """Save an uploaded note into the notes folder (never overwriting: a new name is chosen)."""
    name = safe_name(filename)
    limit = int(settings.max_upload_mb * 1_000_000)
    if len(data) > limit:
        raise NotesError(f"{name} is {len(data) / 1e6:.1f} MB; the upload limit is {settings.max_upload_mb} MB.")
    if decode(data) is None:
        raise NotesError(f"{name} is not a text file (binary or unknown encoding).")
    root = notes_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    n = 1
    while target.exists():
        target = root / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    target.write_bytes(data)
    return target


def retire_note(settings: Settings, source: str) -> Path:
    """Move a note out of the knowledge base into ``.trash/`` (recoverable); the next ingest drops it."""
    root = notes_root(settings).resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotesError(f"{source} is not a note in {root}.")
    trash = root / TRASH
    trash.mkdir(exist_ok=True)
    target = trash / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"
    path.rename(target)
    return target
