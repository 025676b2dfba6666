"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.milvus_standalone import MilvusStandalone


@pytest.fixture()
def user_model(tmp_path: Path) -> Path:
    """A user's own (empty) sentence-transformers folder, as ``NOTESQA_EMBED_MODEL`` would name it."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    return folder


@pytest.fixture(scope="session")
def milvus_standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusStandalone]:
    """A real Milvus server (2.3 standalone from the ``milvus`` package) on 127.0.0.1, for the whole session;
    its configs and logs stay in pytest's temp folder."""
    for module in ("milvus", "langchain_milvus"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"no {module}: pip install 'notesqa[milvus]' (the Milvus server package is for Linux x86-64)")
    server = MilvusStandalone(tmp_path_factory.mktemp("milvus-standalone"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.remove_files()
