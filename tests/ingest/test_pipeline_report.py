"""A whole ingest of a mixed vault (markdown with front matter and links, PDF, Word, HTML, a scanned PDF, an
image, app folders): the index holds the rendered text with folder › title › heading paths whose offsets
point into the text the UI shows, the manifest keeps each note's metadata, and the per-file report (also
``notesqa ingest --report``) says what was found and what was skipped and why.

The embedding model is replaced by a hashing stand-in so this runs in seconds; FAISS, BM25, the tokenizer
and the index generations are the real ones. ``tests/ingest/test_pipeline.py`` covers the real model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from typer.testing import CliRunner

import ingest.embeddings
import ingest.model_files
from ingest.bundled_e5 import tokenizer_file
from ingest.pipeline import ingest as run_ingest
from ingest.store import load_index, read_manifest
from notesqa.settings import Settings
from tests.ingest.test_documents import PAGE, PAGES, _docx, _pdf
from ui.cli import app


class HashEmbeddings(Embeddings):
    """Unit vectors drawn from a hash of the text: same text, same vector; nothing to load."""

    dimension = 16

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        v = np.random.default_rng(seed).normal(size=self.dimension)
        return (v / np.linalg.norm(v)).tolist()


@pytest.fixture()
def no_model(monkeypatch: pytest.MonkeyPatch) -> HashEmbeddings:
    fake = HashEmbeddings()
    monkeypatch.setattr(ingest.embeddings, "get_embeddings", lambda settings, backend=None: fake)
    monkeypatch.setattr(ingest.model_files, "model_folder", lambda settings: tokenizer_file().parent)
    return fake


@pytest.fixture()
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    for folder in (".obsidian", "attachments", "projects/rag", "web"):
        (root / folder).mkdir(parents=True)
    (root / ".obsidian" / "app.md").write_text("app settings", encoding="utf-8")
    (root / "attachments" / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "projects" / "rag" / "plan.md").write_text(
        "---\ntitle: RAG 项目计划\ntags: [rag, project]\n---\n# Plan\n\n"
        "先读 [[Retrieval basics|检索基础]]，再看 ![[diagrams/pipeline]]。#进行中\n\n"
        "![Pipeline overview](../../attachments/figure.png)\n\n## Milestones\n\n第一阶段完成索引，第二阶段完成评估。\n",
        encoding="utf-8")
    (root / "projects" / "rag" / "paper.pdf").write_bytes(_pdf(PAGES, title="RAG paper"))
    (root / "projects" / "scan.pdf").write_bytes(_pdf([[]]))
    _docx(root / "projects" / "handbook.docx")
    (root / "web" / "hnsw.html").write_text(PAGE, encoding="utf-8")
    return root


def test_a_mixed_vault_is_indexed_with_paths_offsets_and_metadata(vault: Path, tmp_path: Path,
                                                                 no_model: HashEmbeddings) -> None:
    settings = Settings(corpus_dir=vault, index_dir=tmp_path / "index")
    report = run_ingest(settings)
    assert (report.files_added, report.files_skipped) == (4, 1)
    index = load_index(settings.index_dir, no_model, settings=settings)
    by_source: dict[str, list] = {}
    for cid in index.order:
        by_source.setdefault(index.chunks[cid].source, []).append(index.chunks[cid])
    assert sorted(by_source) == ["projects/handbook.docx", "projects/rag/paper.pdf", "projects/rag/plan.md",
                                 "web/hnsw.html"]
    for source, chunks in by_source.items():
        shown = index.note_text(source)
        assert all(shown[c.start : c.end] == c.text for c in chunks), source

    plan = by_source["projects/rag/plan.md"]
    assert all(c.headings[:3] == ("projects", "rag", "RAG 项目计划") for c in plan)
    assert "先读 检索基础，再看 pipeline。#进行中" in index.note_text("projects/rag/plan.md")
    milestones = next(c for c in plan if "第二阶段" in c.text)
    assert milestones.headings == ("projects", "rag", "RAG 项目计划", "Plan", "Milestones")
    assert milestones.embed_text.startswith("projects > rag > RAG 项目计划 > Plan > Milestones\n")
    assert not any("title:" in c.embed_text for c in plan)
    paper = by_source["projects/rag/paper.pdf"]
    assert [c.headings for c in paper] == [("projects", "rag", "RAG paper", "pp. 1–4")]  # one chunk, 4 pages

    entry = read_manifest(settings.index_dir).files["projects/rag/plan.md"]
    assert (entry.title, entry.tags, entry.links) == ("RAG 项目计划", ["rag", "project", "进行中"],
                                                      ["Retrieval basics", "diagrams/pipeline"])
    assert read_manifest(settings.index_dir).files["projects/rag/paper.pdf"].pages == 4

    rows = {f.source: f for f in report.files}
    assert set(rows) == {*by_source, "projects/scan.pdf"}
    assert rows["projects/scan.pdf"].status == "skipped" and "OCR" in rows["projects/scan.pdf"].reason
    assert (rows["projects/rag/plan.md"].status, rows["projects/rag/plan.md"].links) == ("added", 2)
    assert rows["projects/rag/paper.pdf"].pages == 4 and rows["projects/rag/paper.pdf"].chunks == len(paper)
    assert rows["projects/handbook.docx"].title == "Project handbook"

    (vault / "projects" / "rag" / "plan.md").write_text("# Plan\n\nRewritten. #done\n", encoding="utf-8")
    again = {f.source: f for f in run_ingest(settings).files}
    assert again["projects/rag/plan.md"].status == "changed" and again["projects/rag/plan.md"].tags == ["done"]
    assert again["web/hnsw.html"].status == "unchanged" and again["web/hnsw.html"].title == "Vector search"


def test_cli_report_lists_every_file(vault: Path, tmp_path: Path, no_model: HashEmbeddings) -> None:
    args = ["ingest", str(vault), "--index", str(tmp_path / "index"), "--report"]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert any(line.startswith("skipped    projects/scan.pdf: PDF without a text layer") for line in lines)
    plan = next(line for line in lines if "projects/rag/plan.md" in line)
    assert plan.startswith("added      projects/rag/plan.md: ") and "title 'RAG 项目计划'" in plan
    assert "tags rag, project, 进行中" in plan and "2 links" in plan
    assert "4 pages" in next(line for line in lines if "paper.pdf" in line)

    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    files = {f["source"]: f for f in data["files"]}
    assert files["projects/rag/plan.md"]["status"] == "unchanged" and files["projects/rag/plan.md"]["links"] == 2
    assert files["projects/scan.pdf"]["reason"].startswith("PDF without a text layer")
    plain = json.loads(CliRunner().invoke(app, [*args[:-1], "--json"]).stdout)
    assert "files" not in plain  # without --report the summary keeps its keys
