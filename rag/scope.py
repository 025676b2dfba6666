"""Which notes a question may be answered from: folders or file patterns, and tags (``notesqa ask --in papers/
--tag rag``, the UI's scope selector, the API's ``scope`` field).

A scope is read against the index manifest (each note's path and tags), so narrowing a question needs no
re-embedding: retrieval ranks only the chunks of the notes in scope (``rag.retrieve.HybridRetriever``).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GLOB_CHARS = frozenset("*?[")
"""A place written with one of these is a file pattern (``papers/*.pdf``, ``**/2024-*``), else a folder or a
file."""


class ScopeError(ValueError):
    """The scope names no note of the index (a typo in a folder or tag): said plainly, nothing is answered."""


def _place(text: str) -> str:
    """A folder, file or pattern as the manifest writes note paths: relative, ``/``-separated, no ``./``."""
    place = text.strip().replace("\\", "/")
    while place.startswith("./"):
        place = place[2:]
    return place.lstrip("/")


def _tag(text: str) -> str:
    return text.strip().lstrip("#").strip().lower()


@dataclass(frozen=True)
class Scope:
    """Notes under any of ``places`` (folders, files or glob patterns; all notes when empty) that carry any
    of ``tags`` (all notes when empty). A tag also matches its nested tags: ``rag`` takes ``rag/eval``."""

    places: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, places: Iterable[str] = (), tags: Iterable[str] = ()) -> Scope | None:
        """The scope of the given places and tags (blank ones dropped), or ``None`` when both are empty."""
        scope = cls(tuple(dict.fromkeys(p for p in map(_place, places) if p)),
                    tuple(dict.fromkeys(t for t in map(_tag, tags) if t)))
        return scope if scope.places or scope.tags else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Scope | None:
        """From the API's ``{"in": [...], "tags": [...]}`` (a single string is taken as a list of one)."""
        if not data:
            return None
        if not isinstance(data, Mapping):
            raise ScopeError('scope must be an object like {"in": ["papers/"], "tags": ["rag"]}')

        def strings(key: str) -> list[str]:
            value = data.get(key) or []
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ScopeError(f'scope "{key}" must be a string or a list of strings')
            return value

        unknown = set(data) - {"in", "tags"}
        if unknown:
            raise ScopeError(f"scope has unknown keys: {', '.join(sorted(unknown))} (use \"in\" and \"tags\")")
        return cls.of(strings("in"), strings("tags"))

    @classmethod
    def from_items(cls, items: Iterable[str]) -> Scope | None:
        """From the UI's selection: ``#tag`` items are tags, the others folders, files or patterns."""
        items = [i.strip() for i in items if i and i.strip()]
        return cls.of([i for i in items if not i.startswith("#")], [i for i in items if i.startswith("#")])

    def to_dict(self) -> dict[str, list[str]]:
        return {"in": list(self.places), "tags": list(self.tags)}

    def describe(self) -> str:
        """``papers/ · #rag`` as shown to the user."""
        return " · ".join([*self.places, *(f"#{t}" for t in self.tags)])

    def _in_place(self, source: str) -> bool:
        for place in self.places:
            if GLOB_CHARS & set(place):
                if fnmatch.fnmatchcase(source, place) or fnmatch.fnmatchcase(posixpath.basename(source), place):
                    return True
            elif source == place.rstrip("/") or source.startswith(place.rstrip("/") + "/"):
                return True
        return not self.places

    def _tagged(self, tags: Sequence[str]) -> bool:
        if not self.tags:
            return True
        own = {t.lower() for t in tags}
        return any(t == want or t.startswith(want + "/") for t in own for want in self.tags)

    @staticmethod
    def choices(tags_by_note: Mapping[str, Sequence[str]]) -> list[str]:
        """What a scope can be made of, for a selector: every folder that holds notes (``papers/``,
        ``papers/2024/``), then every tag (``#rag``), each once, sorted."""
        folders = {"/".join(parts[:i]) + "/" for source in tags_by_note
                   for parts in [source.split("/")[:-1]] for i in range(1, len(parts) + 1)}
        tags = {f"#{t.lower()}" for ts in tags_by_note.values() for t in ts}
        return sorted(folders) + sorted(tags)

    def notes(self, tags_by_note: Mapping[str, Sequence[str]]) -> list[str]:
        """The notes in scope, of ``{note path: its tags}``; ``ScopeError`` when there are none."""
        chosen = [source for source, tags in tags_by_note.items() if self._in_place(source) and self._tagged(tags)]
        if not chosen:
            raise ScopeError(f"No note of the index is in {self.describe()}: check the folder, pattern or tag "
                             "(`notesqa ingest --report` lists every note with its tags).")
        return chosen
