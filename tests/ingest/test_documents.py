"""PDF, Word and HTML notes: their text with page numbers, heading paths and main text; files that cannot
be read are skipped with a reason while the rest are ingested."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.documents import Unreadable, read_docx, read_html, read_pdf
from ingest.loaders import load_notes, shown_text


def _pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A minimal valid PDF written by hand: one Helvetica text line per entry; a page with no lines gets a
    filled rectangle only (like a scanned page, it has no text layer)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        if lines:
            esc = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
            ops = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({line}) Tj T*" for line in esc) + " ET"
        else:
            ops = "0.5 g 72 72 468 648 re f"
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {len(objects)} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info = ""
    if title:
        objects.append(f"<< /Title ({title}) >>")
        info = f" /Info {len(objects)} 0 R"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _encrypted(raw: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(raw)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PAGES = [
    ["Retrieval augmented generation", "RAG first retrieves passages from the notes."],
    ["Then the model answers from the passages.", "Citations point at the page."],
    [],
    ["Dense and sparse rankings are fused by reciprocal rank fusion."],
]


def test_pdf_text_layer_is_read_page_by_page() -> None:
    doc = read_pdf(_pdf(PAGES, title="RAG notes"))
    assert doc.meta.pages == 4 and doc.meta.title == "RAG notes"
    assert len(doc.pages) == 4
    page2 = doc.text[doc.pages[1] : doc.pages[2]]
    assert "Then the model answers from the passages." in page2
    assert "reciprocal rank fusion" in doc.text[doc.pages[3] :]
    assert "RAG first retrieves" in doc.text[: doc.pages[1]]


def test_pdf_chunks_cite_their_page(count_tokens) -> None:  # type: ignore[no-untyped-def]
    from ingest.chunking import Outline

    doc = read_pdf(_pdf(PAGES, title="RAG notes"))
    outline = Outline(("papers",), doc.meta.title, doc.pages)
    chunks = Chunker(count_tokens, target=12, max_tokens=60, overlap=0).split(doc.text, "papers/rag.pdf", outline)
    by_text = {c.text: c for c in chunks}
    fusion = next(c for t, c in by_text.items() if "reciprocal rank fusion" in t)
    assert fusion.headings == ("papers", "RAG notes", "p. 4")
    assert fusion.nearest_heading == "RAG notes"  # what the prompt labels the passage with: not "p. 4"
    answers = next(c for t, c in by_text.items() if "model answers" in t)
    assert answers.headings[:3] == ("papers", "RAG notes", "p. 2")
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert "p. 2" not in answers.context  # the page is for citations, not for the embedding
    assert Outline(pages=(0, 10, 20)).page_label(5, 15) == "pp. 1–2"


def test_pdf_title_that_is_a_file_name_is_not_used() -> None:
    assert read_pdf(_pdf(PAGES, title="Microsoft Word - rag.docx")).meta.title == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (lambda: _pdf([[], []]), "without a text layer"),
        (lambda: _encrypted(_pdf(PAGES), "secret"), "needs a password"),
        (lambda: _pdf(PAGES)[:200], "damaged PDF"),
        (lambda: b"%PDF-1.4\nnot really a pdf at all", "damaged PDF"),
    ],
)
def test_unreadable_pdfs_say_why(raw, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unreadable, match=reason):
        read_pdf(raw())


def test_pdf_with_only_an_owner_password_is_read() -> None:
    assert "reciprocal rank fusion" in read_pdf(_encrypted(_pdf(PAGES), "")).text


def _docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Project handbook", 0)
    d.add_paragraph("This handbook describes how the team works.")
    d.add_heading("Deployment", 1)
    d.add_paragraph("Releases go out every Tuesday after the review.")
    d.add_heading("Rollback", 2)
    d.add_paragraph("Run the previous image tag.", style="List Bullet")
    d.add_paragraph("Tell the on-call engineer.", style="List Bullet")
    table = d.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "Service", (0, 1): "Owner", (1, 0): "api", (1, 1): "Lin"}.items():
        table.cell(r, c).text = value
    d.add_heading("部署说明", 1)
    d.add_paragraph("每周二发布新版本。")
    d.save(str(path))


def test_docx_heading_styles_become_the_heading_path(tmp_path: Path, count_tokens) -> None:  # type: ignore[no-untyped-def]
    _docx(tmp_path / "handbook.docx")
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000_000)
    assert not skipped
    [note] = notes
    assert note.meta.title == "Project handbook"
    assert "## Rollback\n\n- Run the previous image tag.\n- Tell the on-call engineer." in note.text
    assert "| Service | Owner |\n|---|---|\n| api | Lin |" in note.text
    chunks = Chunker(count_tokens, target=10, max_tokens=80, overlap=0).split(note.text, note.source, note.outline())
    rollback = next(c for c in chunks if "previous image tag" in c.text)
    assert rollback.headings == ("Project handbook", "Deployment", "Rollback")
    release = next(c for c in chunks if "每周二" in c.text)
    assert release.headings == ("Project handbook", "部署说明")
    assert all(shown_text(note.path)[c.start : c.end] == c.text for c in chunks)


def test_docx_that_is_not_a_word_file_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="not a readable Word document"):
        read_docx(b"PK\x03\x04 this is not a zip")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Vector search | My Blog</title>
<script>var tracking = "do not index";</script><style>body { color: red }</style></head>
<body>
<header><a href="/">Home</a> <a href="/about">About</a></header>
<nav><ul><li>Posts</li><li>Archive</li></ul></nav>
<main>
  <h1>Vector search</h1>
  <p>HNSW builds a <b>graph</b> of neighbours.</p>
  <h2>Parameters</h2>
  <p>Raise <code>efSearch</code> for better recall.<br>It costs latency.</p>
  <ul><li>M: links per node</li><li>efConstruction: build effort</li></ul>
  <table><tr><th>k</th><th>recall</th></tr><tr><td>10</td><td>0.98</td></tr></table>
  <pre>index.hnsw.efSearch = 128</pre>
  <img src="chart.png" alt="Recall against latency">
  <div role="navigation">Next post</div>
</main>
<aside>Related posts</aside>
<footer>© 2024 My Blog. All rights reserved.</footer>
</body></html>"""


def test_html_main_text_without_navigation(count_tokens) -> None:  # type: ignore[no-untyped-def]
    doc = read_html(PAGE.encode())
    for boilerplate in ("Home", "Archive", "Related posts", "rights reserved", "tracking", "color: red", "Next post"):
        assert boilerplate not in doc.text
    assert doc.text.startswith("# Vector search\n\nHNSW builds a graph of neighbours.")
    assert "## Parameters" in doc.text and "Raise efSearch for better recall. It costs latency." in doc.text
    assert "- M: links per node\n- efConstruction: build effort" in doc.text
    assert "| k | recall |\n|---|---|\n| 10 | 0.98 |" in doc.text
    assert "```\nindex.hnsw.efSearch = 128\n```" in doc.text
    assert "Recall against latency" in doc.text
    chunks = Chunker(count_tokens, target=10, max_tokens=80, overlap=0).split(doc.text, "web/hnsw.html")
    assert next(c for c in chunks if "0.98" in c.text).headings == ("Vector search", "Parameters")


def test_html_title_comes_from_the_title_tag_without_h1() -> None:
    doc = read_html(b"<html><head><title>Saved page</title></head><body><p>Only a paragraph.</p></body></html>")
    assert doc.meta.title == "Saved page" and doc.text == "Only a paragraph."
    gbk = "<html><head><meta charset='gbk'></head><body><p>向量检索的笔记。</p></body></html>".encode("gbk")
    assert read_html(gbk).text == "向量检索的笔记。"


def test_a_bad_file_is_skipped_with_its_reason_and_the_rest_is_read(tmp_path: Path) -> None:
    (tmp_path / "good.pdf").write_bytes(_pdf(PAGES))
    (tmp_path / "scan.pdf").write_bytes(_pdf([[]]))
    (tmp_path / "locked.pdf").write_bytes(_encrypted(_pdf(PAGES), "secret"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n\x00\x01garbage")
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "note.md").write_text("# Note\n\nPlain note.", encoding="utf-8")
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000_000)
    assert sorted(n.source for n in notes) == ["good.pdf", "note.md", "page.html"]
    reasons = {s.source: s.reason for s in skipped}
    assert set(reasons) == {"scan.pdf", "locked.pdf", "broken.pdf", "broken.docx"}
    assert "OCR" in reasons["scan.pdf"] and "password" in reasons["locked.pdf"]
    assert "damaged" in reasons["broken.pdf"] and "Word" in reasons["broken.docx"]


def test_a_missing_library_is_a_skip_reason_that_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pypdf", None)  # import pypdf now raises ImportError
    (tmp_path / "a.pdf").write_bytes(_pdf(PAGES))
    (tmp_path / "b.md").write_text("text", encoding="utf-8")
    notes, skipped = load_notes([tmp_path], tmp_path, 10_000_000)
    assert [n.source for n in notes] == ["b.md"]
    assert skipped[0].reason == "reading .pdf files needs the pypdf[crypto] package (pip install 'pypdf[crypto]')"
