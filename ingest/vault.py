"""Markdown notes as note apps (Obsidian and the like) write them: YAML front matter, ``#tags``,
``[[wikilinks]]``, ``[[note|alias]]``, ``![[embeds]]`` and image links.

:func:`read_markdown` turns such a note into the text it is indexed and shown as:

* the front matter becomes the note's metadata (title, tags, aliases, dates) and is not part of the text;
* ``[[folder/Note#Heading|alias]]`` reads as ``alias``, else as the linked note's title, which in a vault is
  its file name (``Note``, ``Note > Heading``); the target is recorded as a link. A link is rendered from the
  note's own bytes, never from the linked note, so a note's text changes only when its file does;
* ``![alt](image.png)`` and ``![[image.png|alt]]`` read as their alt text only; ``#tags`` stay in the text and
  are recorded as tags;
* fenced code, inline code and LaTeX (``$…$``, ``$$…$$``) are kept exactly as written, links and all.

Rendering never adds or removes a line break, so line *n* of the text is line *n* of the file after its
front matter.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ingest.chunking import code_spans
from ingest.documents import Document, NoteMeta
from notesqa.text import MARKDOWN_LINK

log = logging.getLogger(__name__)

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
"""A YAML block at the very start of a note, between ``---`` lines."""
WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
MD_IMAGE = re.compile("!" + MARKDOWN_LINK.pattern)
INLINE_TAG = re.compile(r"(?<![^\s。，、；：！？）」』】])#([\w/-]*[^\W\d][\w/-]*)")
"""``#tag`` after a space, a line start or Chinese punctuation (``完成。#待办``), with at least one letter
(``#2024`` is no tag, ``# H`` a heading, ``C#`` and ``page#anchor`` hold none)."""
PROTECTED = re.compile(
    r"(`+)[^\n]*?\1"  # inline code
    r"|\$\$.+?\$\$"  # display math
    r"|(?<![\\$\w])\$(?![\s$])[^$\n]+?(?<![\s\\])\$(?!\d)",  # inline math (not "$5 and $10")
    re.S,
)
"""Inline spans kept exactly as written (fenced code blocks are found by the chunker's own rule)."""
LINK_ONLY_LINE = re.compile(r"^[ \t]*(?:(?:!?\[\[[^\[\]\n]+?\]\]|" + MD_IMAGE.pattern + r")[ \t]*)+$")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".avif", ".tif", ".tiff",
                            ".heic", ".ico"})
SIZE_HINT = re.compile(r"^\s*\d+(?:\s*x\s*\d+)?\s*$")
"""``![[image.png|300]]``: the part after ``|`` of an image embed is its size, not alt text."""
DATE_KEYS = frozenset({"date", "created", "updated", "modified", "published", "date created", "date modified",
                       "created_at", "updated_at", "last_modified"})
"""Front matter keys that hold dates even when written as free text."""


def read_markdown(text: str, encoding: str = "") -> Document:
    """A decoded markdown note as it is indexed and shown, with the metadata it carries (see the module doc)."""
    front, body = split_front_matter(text)
    tags: list[str] = list(front.get("tags", ()))
    links: list[str] = []
    out: list[str] = []
    pos = 0
    for start, end in _protected(body):
        out.append(_render(body[pos:start], tags, links))
        out.append(body[start:end])
        pos = end
    out.append(_render(body[pos:], tags, links))
    rendered = "".join(out)
    meta = NoteMeta(title=front.get("title", ""), tags=_unique(tags), aliases=_unique(front.get("aliases", ())),
                    links=_unique(links), dates=front.get("dates", {}))
    first_line = text.count("\n", 0, len(text) - len(body)) + 1  # rendering keeps every line break
    return Document(rendered, meta, encoding, link_lines=_link_lines(body, rendered), first_line=first_line)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(metadata, body)``: the front matter's title, tags, aliases and dates, and the text after it.

    Front matter that is not valid YAML is left out of the text all the same (a note app would not show it
    either), with a warning.
    """
    m = FRONT_MATTER.match(text)
    if not m:
        return {}, text
    import yaml

    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        log.warning("front matter is not valid YAML (%s); it is left out of the note's text",
                    str(exc).splitlines()[0])
        data = None
    body = text[m.end() :]
    if not isinstance(data, dict):
        return {}, body
    fields = {str(k).strip().lower(): v for k, v in data.items()}
    meta: dict[str, Any] = {
        "tags": _words(fields.get("tags", fields.get("tag"))),
        "aliases": _words(fields.get("aliases", fields.get("alias")), split_spaces=False),
        "dates": {k: _iso(v) for k, v in fields.items()
                  if isinstance(v, dt.date) or (k in DATE_KEYS and isinstance(v, str | int) and str(v).strip())},
    }
    if isinstance(fields.get("title"), str | int | float) and str(fields["title"]).strip():
        meta["title"] = str(fields["title"]).strip()
    return meta, body


def _words(value: Any, split_spaces: bool = True) -> list[str]:
    """A front matter list (YAML list, or one string separated by commas, and spaces for tags), without ``#``."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if item is None:
            continue
        for part in re.split(r"[,\s]+" if split_spaces else r",", str(item)):
            part = part.strip().lstrip("#").strip() if split_spaces else part.strip()
            if part:
                out.append(part)
    return out


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value).strip()


def _protected(body: str) -> list[tuple[int, int]]:
    """Spans kept verbatim: fenced code blocks (the chunker's rule), then inline code and math outside them."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for start, end in [*code_spans(body), (len(body), len(body))]:
        spans += [(pos + m.start(), pos + m.end()) for m in PROTECTED.finditer(body[pos:start])]
        if start < end:
            spans.append((start, end))
        pos = end
    return spans


def _render(part: str, tags: list[str], links: list[str]) -> str:
    """Render the links and images of text outside code and math; collect its tags and link targets."""
    tags.extend(INLINE_TAG.findall(part))
    part = MD_IMAGE.sub(lambda m: m.group(1).strip(), part)
    return WIKILINK.sub(lambda m: _wikilink(m.group(1) == "!", m.group(2), links), part)


def _wikilink(embed: bool, inner: str, links: list[str]) -> str:
    """The text a ``[[target#heading|alias]]`` reads as; records the target of a link to a note."""
    target, _, label = inner.partition("|")
    target, label = target.rstrip("\\").strip(), label.strip()  # "\|" escapes the bar inside tables
    name, _, anchor = target.partition("#")
    name = name.strip()
    if any(name.lower().endswith(s) for s in IMAGE_SUFFIXES):
        return "" if SIZE_HINT.match(label) else label  # an image: its alt text, if any
    if name:
        links.append(name[:-3] if name.lower().endswith(".md") else name)
    if label:
        return label
    shown = name.rsplit("/", 1)[-1]
    shown = shown[:-3] if shown.lower().endswith(".md") else shown
    heading = anchor.strip().lstrip("#").strip()
    if heading.startswith("^"):  # a block reference names no heading
        heading = ""
    if shown and heading:
        return f"{shown} > {heading}"
    return shown or heading


def _link_lines(body: str, rendered: str) -> frozenset[int]:
    """Offsets (in ``rendered``) of the lines that were only links, embeds or images in ``body``."""
    out, pos = set(), 0
    for before, after in zip(body.split("\n"), rendered.split("\n"), strict=True):
        if LINK_ONLY_LINE.match(before):
            out.add(pos)
        pos += len(after) + 1
    return frozenset(out)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


APP_FOLDER = ".obsidian"
"""The folder Obsidian keeps its settings in: the folder holding it is a vault."""


def vault_of(folder: Path) -> Path | None:
    """The Obsidian vault ``folder`` is in (it, or the nearest folder above it, holding ``.obsidian/``)."""
    for place in (folder, *folder.parents):
        if (place / APP_FOLDER).is_dir():
            return place
    return None


def obsidian_link(root: Path, source: str) -> str:
    """``obsidian://open?vault=…&file=…`` opening note ``source`` (relative to the notes folder ``root``) in
    Obsidian, or ``""`` when the note is not in a vault. A markdown note is named without ``.md``, as Obsidian
    names it."""
    path = (root / source).resolve()
    vault = vault_of(path.parent)
    if vault is None:
        return ""
    name = path.relative_to(vault).as_posix()
    name = name[:-3] if name.lower().endswith(".md") else name
    return f"obsidian://open?vault={quote(vault.name, safe='')}&file={quote(name, safe='')}"
