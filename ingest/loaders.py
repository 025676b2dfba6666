"""Find note files, read each into the text it is indexed and shown as, and skip what cannot be read."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ingest.chunking import Outline
from ingest.documents import Document, NoteMeta, Unreadable, read_docx, read_html, read_pdf
from ingest.vault import read_markdown

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
"""Plain-text notes (the kinds the UI accepts as uploads)."""
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
"""Notes read with the vault conventions (front matter, tags, wikilinks; :mod:`ingest.vault`)."""
NOTE_SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx", ".html", ".htm"}
"""File types that are ingested; everything else in the folder (images, attachments) is ignored."""
IGNORED_DIRS = frozenset({"node_modules", "__pycache__"})
"""Folders tools keep for themselves. Hidden ones (``.obsidian``, ``.trash``, ``.git``) are ignored as well."""
ATTACHMENT_DIRS = frozenset({"attachments", "attachment", "_attachments", "assets", "_resources"})
"""Folders where note apps put what notes embed. One that holds no text or markdown note is skipped whole:
the PDFs, Word files or pages in it are attachments, not notes. With notes in it, it is read like any folder."""


@dataclass(frozen=True)
class Note:
    """One note file, read."""

    source: str
    """Path relative to the corpus root, with forward slashes (e.g. ``001_x.txt``)."""
    path: Path
    sha256: str
    """Hash of the raw bytes (identifies content across renames)."""
    document: Document | None
    """What the file reads as; ``None`` when its content is already in the index (its hash was ``known`` to
    :func:`load_notes`), so it was not read again."""

    @property
    def text(self) -> str:
        """The text chunk offsets index into (rendered markdown, a PDF's text layer, ...)."""
        return self.document.text if self.document else ""

    @property
    def encoding(self) -> str:
        return self.document.encoding if self.document else ""

    @property
    def meta(self) -> NoteMeta:
        return self.document.meta if self.document else NoteMeta()

    def outline(self) -> Outline:
        """Where the note stands (folders, title, pages), which leads its chunks' heading paths."""
        doc = self.document or Document("")
        return Outline(PurePosixPath(self.source).parent.parts, doc.meta.title, doc.pages, doc.link_lines,
                       doc.first_line)


@dataclass(frozen=True)
class Skipped:
    """A file that was found but could not be ingested, with the reason shown to the user."""

    source: str
    reason: str


class NotesError(ValueError):
    """A user-facing problem with the notes path (missing, not a folder of notes, ...)."""


def is_ignored(name: str) -> bool:
    """A file or folder name never read as notes: hidden (``.obsidian``, ``.trash``, ``.git``), an editor's
    temporary file (``~$plan.docx``), or a tool's folder (:data:`IGNORED_DIRS`)."""
    return name.startswith((".", "~")) or name in IGNORED_DIRS


def _holds(folder: Path, suffixes: frozenset[str]) -> bool:
    """Whether ``folder`` (recursively, ignored folders aside) holds a file with one of ``suffixes``."""
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not is_ignored(d)]
        if any(Path(f).suffix.lower() in suffixes and not is_ignored(f) for f in filenames):
            return True
    return False


def iter_note_files(root: Path, on_skip: Callable[[Path, str], None] | None = None) -> Iterator[Path]:
    """Yield note files under ``root`` (recursively, sorted), never following links out of the root and
    leaving out ignored and attachment folders (``on_skip(path, reason)`` hears about what is left out)."""
    root = root.resolve()
    if root.is_file():
        if root.suffix.lower() in NOTE_SUFFIXES:
            yield root
        return

    def skip(path: Path, reason: str) -> None:
        if on_skip is not None:
            on_skip(path, reason)
        else:
            log.warning("skipping %s: %s", path, reason)

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            if is_ignored(name):
                continue
            if name.lower() in ATTACHMENT_DIRS and not _holds(here / name, TEXT_SUFFIXES):
                if _holds(here / name, NOTE_SUFFIXES):
                    skip(here / name, "attachment folder without notes (its files are attachments of notes)")
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            path = here / name
            if path.suffix.lower() not in NOTE_SUFFIXES or is_ignored(name):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                skip(path, "symlink points outside the notes folder (not followed)")
                continue
            if path.is_file():
                found.append(path)
    yield from sorted(found)


def decode(raw: bytes) -> tuple[str, str] | None:
    """Decode note bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else charset detection (GB18030...).

    Returns ``(text, encoding)`` or ``None`` for binary / undecodable content.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    if b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        return None
    encoding = best.encoding
    if encoding.replace("_", "").lower() in {"gb2312", "gbk", "gb18030", "hz"}:
        encoding = "gb18030"  # superset: decodes everything the narrower guesses would
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    if _looks_binary(text):
        return None
    return text, encoding


def note_text(raw: bytes) -> tuple[str, str] | None:
    """Decode a plain-text note the way ingest does (see :func:`decode`), with line ends normalised to ``\\n``.

    A ``.txt`` note is indexed as this text; markdown is rendered from it (:func:`read_document`). Anything
    that shows a passage in its note reads the note through :func:`shown_text`, which does the same.
    """
    decoded = decode(raw)
    if decoded is None:
        return None
    text, encoding = decoded
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    control = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\n\r\f")
    return control / min(len(text), 4096) > 0.01


def read_document(path: Path, raw: bytes) -> Document:
    """What a note file reads as, by its type; :class:`Unreadable` (with the reason) when it has no text."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return read_pdf(raw)
    if suffix == ".docx":
        return read_docx(raw, fallback_title=path.stem)
    if suffix in (".html", ".htm"):
        return read_html(raw)
    decoded = note_text(raw)
    if decoded is None:
        raise Unreadable("binary or undecodable content")
    text, encoding = decoded
    if suffix in MARKDOWN_SUFFIXES:
        return read_markdown(text, encoding)
    return Document(text, encoding=encoding, first_line=1)


def shown_text(path: Path) -> str:
    """The text of the note at ``path`` as ingest reads it, which chunk offsets index into (what the UI shows
    around a passage). Cached while the file is unchanged, since a PDF takes a while to read."""
    stat = path.stat()
    return _shown_text(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _shown_text(path: str, mtime_ns: int, size: int) -> str:
    return read_document(Path(path), Path(path).read_bytes()).text


def load_notes(
    paths: Iterable[Path], root: Path, max_bytes: int, known: Mapping[str, str] | None = None
) -> tuple[list[Note], list[Skipped]]:
    """Read every note under ``paths`` (files or folders); sources are made relative to ``root``.

    ``known`` maps sources to the sha256 already ingested: such a file, unchanged, is hashed but not read
    again (its :attr:`Note.document` is ``None``).
    """
    notes: list[Note] = []
    skipped: list[Skipped] = []
    root = root.resolve()
    seen: set[Path] = set()
    known = known or {}

    def outside(path: Path, reason: str) -> None:
        source = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        skipped.append(Skipped(source + ("/" if path.is_dir() else ""), reason))

    for base in paths:
        for path in iter_note_files(Path(base), outside):
            if path in seen:
                continue
            seen.add(path)
            source = _relative(path, root)
            try:
                size = path.stat().st_size
                if size > max_bytes:
                    skipped.append(Skipped(source, f"larger than {max_bytes / 1e6:g} MB"))
                    continue
                raw = path.read_bytes()
            except OSError as exc:
                skipped.append(Skipped(source, f"cannot be read ({exc.strerror or exc})"))
                continue
            sha256 = hashlib.sha256(raw).hexdigest()
            if known.get(source) == sha256:
                notes.append(Note(source, path, sha256, None))
                continue
            try:
                document = read_document(path, raw)
            except Unreadable as exc:
                skipped.append(Skipped(source, exc.reason))
                continue
            except Exception as exc:  # a reader's bug on one odd file must not stop the ingest of the rest
                log.warning("reading %s failed", source, exc_info=True)
                skipped.append(Skipped(source, f"could not be read ({type(exc).__name__}: {exc})"))
                continue
            if not document.text.strip():
                skipped.append(Skipped(source, "empty"))
                continue
            notes.append(Note(source, path, sha256, document))
    for item in skipped:
        log.warning("skipped %s: %s", item.source, item.reason)
    return notes, skipped


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
