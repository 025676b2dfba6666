"""What a note file reads as: its text (the text that is chunked, indexed and shown) and what it says about
itself; and the readers of the formats that are not plain text (PDF, Word .docx, HTML).

Every reader returns the note's text as it is stored and shown: chunk offsets index into it, and the UI shows
the same text (``Index.note_text`` reads the file through the same reader). A reader that cannot get text out
of a file raises :class:`Unreadable` with the reason shown to the user; ingest skips that file and goes on.
The libraries (pypdf, python-docx, beautifulsoup4) are imported only when a file of their format is read.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from notesqa.text import collapse_spaces


@dataclass(frozen=True)
class NoteMeta:
    """What a note says about itself (front matter, document properties), kept in the index manifest."""

    title: str = ""
    """Its own title (front matter ``title``, the document's title); empty: the title is taken from the text."""
    tags: tuple[str, ...] = ()
    """Front matter tags and inline ``#tags``, without ``#``, each once, in order of appearance."""
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    """Targets of its ``[[wikilinks]]`` and ``![[embeds]]`` (images excepted), as written, each once."""
    dates: Mapping[str, str] = field(default_factory=dict)
    """Front matter dates (``date``, ``created``, ``updated``, ...) as ISO strings."""
    pages: int = 0
    """Number of pages (PDF); 0 for notes without pages."""


@dataclass(frozen=True)
class Document:
    """A note file as read: the text it is indexed and shown as, and its structure."""

    text: str
    meta: NoteMeta = field(default_factory=NoteMeta)
    encoding: str = ""
    """Text encoding the file was decoded from (empty for PDF and Word files)."""
    pages: tuple[int, ...] = ()
    """Offset in ``text`` where each page starts (PDF)."""
    link_lines: frozenset[int] = frozenset()
    """Start offsets of lines that only hold rendered links, embeds or images (never headings)."""
    first_line: int = 0
    """The file's line number (1-based) of the text's first line, so a passage can say which lines of the file
    it is (markdown after front matter: the line after it); 0 when the text is not the file's lines (PDF, Word,
    HTML)."""


class Unreadable(ValueError):
    """No text can be had from a file; ``reason`` is what the user is told."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _library(module: str, package: str, suffix: str) -> ModuleType:
    """Import a format's library, or say which package to install to read such files."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unreadable(f"reading {suffix} files needs the {package} package (pip install '{package}')") from exc


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library's warnings about a damaged file while it is read (the skip reason says enough)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _pipe_table(rows: list[list[str]]) -> str:
    """Rows of cell texts as a markdown pipe table (the first row is the header), which the chunker keeps whole."""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in [*r, *[""] * (width - len(r))]) + " |" for r in rows]
    return "\n".join([lines[0], "|" + "---|" * width, *lines[1:]])


def _heading(level: int, text: str) -> str:
    return f"{'#' * max(1, min(level, 6))} {text}"


# --- PDF --------------------------------------------------------------------------------------------------
PAGE_BREAK = "\n\n"
"""Put between pages, so that no paragraph runs across a page boundary and every passage has one first page."""
FILE_NAME = re.compile(r"\.\w{2,5}$|^untitled$", re.IGNORECASE)
"""A document title that is only a file name ("Microsoft Word - plan.docx") or a placeholder names nothing."""
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def read_pdf(raw: bytes) -> Document:
    """The text layer of a PDF, page by page (``Document.pages`` holds where each page starts)."""
    pypdf = _library("pypdf", "pypdf[crypto]", ".pdf")
    with _quiet("pypdf"):
        try:
            reader = pypdf.PdfReader(io.BytesIO(raw))
            if reader.is_encrypted:
                _decrypt(reader, pypdf)
            texts = [_page_text(page.extract_text() or "") for page in reader.pages]
            title = _pdf_title(reader)
        except Unreadable:
            raise
        except Exception as exc:  # pypdf raises many kinds of errors on damaged files
            raise Unreadable(f"damaged PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not any(texts):
        raise Unreadable("PDF without a text layer (scanned pages? run OCR on it first)")
    starts, parts, pos = [], [], 0
    for page in texts:
        starts.append(pos)
        if page:
            parts.append(page)
            pos += len(page) + len(PAGE_BREAK)
    return Document(PAGE_BREAK.join(parts), NoteMeta(title=title, pages=len(texts)), pages=tuple(starts))


def _decrypt(reader: Any, pypdf: ModuleType) -> None:
    """Open a PDF encrypted without a user password (only its permissions are protected); refuse others."""
    try:
        opened = reader.decrypt("")
    except pypdf.errors.DependencyError as exc:
        raise Unreadable(
            "encrypted PDF whose cipher needs the cryptography package (pip install 'pypdf[crypto]')"
        ) from exc
    if not opened:
        raise Unreadable("encrypted PDF that needs a password (save an unprotected copy to ingest it)")


def _page_text(text: str) -> str:
    lines = [line.rstrip() for line in CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")]
    return "\n".join(lines).strip("\n")


def _pdf_title(reader: Any) -> str:
    try:
        title = collapse_spaces((reader.metadata or {}).get("/Title") or "")
    except Exception:  # a damaged info dictionary only costs the title
        return ""
    return "" if FILE_NAME.search(title) else title


# --- Word -------------------------------------------------------------------------------------------------
DOCX_HEADING = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)
"""Paragraph styles that are headings ("Heading 2"; "标题 2" in documents made with Chinese style names)."""


def read_docx(raw: bytes, fallback_title: str = "") -> Document:
    """A Word document's paragraphs and tables in order: heading styles become markdown headings (so they
    form the heading path), list paragraphs list items, tables pipe tables."""
    docx = _library("docx", "python-docx", ".docx")
    try:
        doc = docx.Document(io.BytesIO(raw))
        blocks, title = _docx_blocks(doc)
        title = title or collapse_spaces(doc.core_properties.title or "") or fallback_title
    except Exception as exc:  # not a zip, not OOXML (an old .doc, an encrypted file), damaged parts
        raise Unreadable(
            f"not a readable Word document: damaged, encrypted or an old .doc ({type(exc).__name__})"
        ) from exc
    text = "\n\n".join(blocks)
    if not text.strip():
        raise Unreadable("empty")
    return Document(text, NoteMeta(title=title))


def _docx_blocks(doc: Any) -> tuple[list[str], str]:
    """Markdown blocks of a document's body, and the text of its Title-style paragraph."""
    from docx.table import Table

    blocks: list[str] = []
    title = ""
    for item in doc.iter_inner_content():
        if isinstance(item, Table):
            rows = [[collapse_spaces(cell.text) for cell in row.cells] for row in item.rows]
            if any(any(r) for r in rows):
                blocks.append(_pipe_table(rows))
            continue
        text = "\n".join(line.strip() for line in item.text.split("\n") if line.strip())
        if not text:
            continue
        style = item.style.name if item.style is not None else ""
        level = DOCX_HEADING.match(style.strip())
        if style == "Title" or level:
            heading = collapse_spaces(text)
            title = title or (heading if style == "Title" else "")
            blocks.append(_heading(int(level.group(1)) if level else 1, heading))
        elif style.startswith("List") or _numbered(item):
            item_text = f"- {collapse_spaces(text)}"
            if blocks and blocks[-1].startswith("- "):
                blocks[-1] += "\n" + item_text  # one list block, as the chunker expects
            else:
                blocks.append(item_text)
        else:
            blocks.append(text)
    return blocks, title


def _numbered(paragraph: Any) -> bool:
    """A paragraph in a numbered or bulleted list by direct numbering (python-docx has no public accessor)."""
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


# --- HTML -------------------------------------------------------------------------------------------------
HTML_DROP = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "input",
    "dialog",
    "menu",
)
"""Elements that are never a page's text: code, navigation, site header and footer, side bars, forms."""
HTML_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar")
HTML_MAIN = ("main", "[role=main]", "article")
"""Where a page's main text is, in order of preference; else the whole body (less what is dropped)."""
HTML_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "figure",
        "figcaption",
        "dl",
        "dt",
        "dd",
        "address",
        "details",
        "summary",
        "center",
        "hr",
        "body",
        "html",
    }
)


def read_html(raw: bytes) -> Document:
    """A web page's main text, without navigation, header, footer, side bars or scripts; ``<h1>``-``<h6>``
    become markdown headings, list items ``- `` lines, tables pipe tables, ``<pre>`` fenced code."""
    bs4 = _library("bs4", "beautifulsoup4", ".html")
    soup = bs4.BeautifulSoup(raw, "html.parser")
    page_title = collapse_spaces(soup.title.get_text()) if soup.title else ""
    for tag in soup.find_all(HTML_DROP):
        tag.decompose()
    for tag in soup.select(",".join(f"[role={r}]" for r in HTML_DROP_ROLES) + ",[hidden],[aria-hidden=true]"):
        tag.decompose()
    root = next((found for sel in HTML_MAIN if (found := soup.select_one(sel)) is not None), None)
    root = root or soup.body or soup
    blocks: list[str] = []
    _html_blocks(root, blocks, bs4)
    text = "\n\n".join(blocks)
    if not text.strip():
        raise Unreadable("no text in the page")
    has_h1 = any(b.startswith("# ") for b in blocks)  # then the title is the page's own <h1>, as in markdown
    return Document(text, NoteMeta(title="" if has_h1 else page_title), encoding=soup.original_encoding or "")


def _html_blocks(node: Any, out: list[str], bs4: ModuleType) -> None:
    """Append the markdown blocks of ``node``'s children to ``out`` (inline content joined into paragraphs)."""
    inline: list[str] = []

    def flush() -> None:
        text = collapse_spaces("".join(inline))
        if text:
            out.append(text)
        inline.clear()

    for child in node.children:
        if isinstance(child, bs4.element.NavigableString):
            if type(child) in (bs4.element.NavigableString, bs4.element.CData):  # not comments, doctype
                inline.append(str(child))
            continue
        name = child.name
        if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            flush()
            if heading := collapse_spaces(child.get_text()):
                out.append(_heading(int(name[1]), heading))
        elif name == "pre":
            flush()
            out.append("```\n" + child.get_text().strip("\n") + "\n```")
        elif name in ("ul", "ol"):
            flush()
            items = [collapse_spaces(li.get_text()) for li in child.find_all("li", recursive=False)]
            if any(items):
                out.append("\n".join(f"- {t}" for t in items if t))
        elif name == "table":
            flush()
            rows = [[collapse_spaces(c.get_text()) for c in tr.find_all(("th", "td"))] for tr in child.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                out.append(_pipe_table(rows))
        elif name == "img":
            inline.append(child.get("alt") or "")
        elif name == "br":
            inline.append(" ")
        elif name in HTML_BLOCK or name == "li":
            flush()
            _html_blocks(child, out, bs4)
        else:
            inline.append(child.get_text())
    flush()
