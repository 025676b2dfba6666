"""Find note files, detect their encoding, and skip what is not text."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NOTE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
"""File types that are ingested; everything else in the folder is ignored."""


@dataclass(frozen=True)
class Note:
    """One decoded note file."""

    source: str
    """Path relative to the corpus root, with forward slashes (e.g. ``001_x.txt``)."""
    path: Path
    text: str
    encoding: str
    sha256: str
    """Hash of the raw bytes (identifies content across renames)."""


@dataclass(frozen=True)
class Skipped:
    """A file that was found but could not be ingested, with the reason shown to the user."""

    source: str
    reason: str


class NotesError(ValueError):
    """A user-facing problem with the notes path (missing, not a folder of notes, ...)."""


def iter_note_files(root: Path, on_skip: Callable[[Path, str], None] | None = None) -> Iterator[Path]:
    """Yield note files under ``root`` (recursively, sorted), never following links out of the root
    (``on_skip(path, reason)`` hears about those)."""
    root = root.resolve()
    if root.is_file():
        if root.suffix.lower() in NOTE_SUFFIXES:
            yield root
        return
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in NOTE_SUFFIXES or any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            reason = "symlink points outside the notes folder (not followed)"
            if on_skip is not None:
                on_skip(path, reason)
            else:
                log.warning("skipping %s: %s", path, reason)
            continue
        if path.is_file():
            yield path


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
    """Decode a note the way ingest does (see :func:`decode`), with line ends normalised to ``\\n``.

    Chunk offsets index into this text, so anything that shows a passage in its note must read it so too.
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


def load_notes(
    paths: Iterable[Path], root: Path, max_bytes: int
) -> tuple[list[Note], list[Skipped]]:
    """Read every note under ``paths`` (files or folders); sources are made relative to ``root``."""
    notes: list[Note] = []
    skipped: list[Skipped] = []
    root = root.resolve()
    seen: set[Path] = set()

    def outside(path: Path, reason: str) -> None:
        skipped.append(Skipped(path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path), reason))

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
            decoded = note_text(raw)
            if decoded is None:
                skipped.append(Skipped(source, "binary or undecodable content"))
                continue
            text, encoding = decoded
            if not text.strip():
                skipped.append(Skipped(source, "empty"))
                continue
            notes.append(Note(source, path, text, encoding, hashlib.sha256(raw).hexdigest()))
    for item in skipped:
        log.warning("skipped %s: %s", item.source, item.reason)
    return notes, skipped


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
