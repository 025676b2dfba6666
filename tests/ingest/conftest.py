"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def user_model(tmp_path: Path) -> Path:
    """A user's own (empty) sentence-transformers folder, as ``NOTESQA_EMBED_MODEL`` would name it."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    return folder
