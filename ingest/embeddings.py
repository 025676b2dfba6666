"""Sentence-transformers embeddings (bundled e5 by default) as a LangChain ``Embeddings``, plus a token counter."""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ingest.bundled_e5 import FOLDER_NAME, ensure_e5_folder
from notesqa.settings import Settings

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, int], E5Embeddings] = {}


def offline_env() -> None:
    """Never let a library reach for a model hub or telemetry: everything here is local."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }.items():
        os.environ.setdefault(key, value)


def model_folder(settings: Settings) -> Path:
    """The sentence-transformers folder in use: ``settings.embed_model`` or the converted bundled e5."""
    if settings.embed_model is not None:
        folder = Path(settings.embed_model).expanduser()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"NOTESQA_EMBED_MODEL={folder} is not a sentence-transformers folder (no modules.json)."
            )
        return folder
    return ensure_e5_folder(settings.cache_dir)


def model_id(settings: Settings) -> str:
    """A stable name for the embedding model, recorded in the index manifest."""
    if settings.embed_model is not None:
        return str(Path(settings.embed_model).expanduser().resolve())
    return f"bundled:{FOLDER_NAME}"


class TokenCounter:
    """Counts embedding-model tokens with the model's fast tokenizer (no torch import)."""

    def __init__(self, folder: Path):
        self.folder = folder

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        tok_file = self.folder / "tokenizer.json"
        if tok_file.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tok_file))
            tok.no_truncation()
            return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(self.folder))
        return lambda texts: [len(ids) for ids in hf(list(texts), add_special_tokens=False)["input_ids"]]

    def __call__(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        return self._tokenizer(texts) if texts else []


class E5Embeddings(Embeddings):
    """LangChain embeddings over a sentence-transformers model, with e5's ``query:``/``passage:`` prompts."""

    def __init__(self, folder: Path, threads: int, batch_size: int = 16, bundled: bool = False):
        self.folder = folder
        self.threads = threads
        self.batch_size = batch_size
        self.bundled = bundled

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        offline_env()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "Embedding needs torch and sentence-transformers; run `make setup`."
            ) from exc
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        torch.set_num_threads(self.threads)
        kwargs = {"model_kwargs": {"add_pooling_layer": False}} if self.bundled else {}
        model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True, **kwargs)
        return model

    def _prompt(self, name: str) -> dict[str, str]:
        return {"prompt_name": name} if name in (self.model.prompts or {}) else {}

    def _encode(self, texts: list[str], name: str) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            **self._prompt(name),
        )
        return vectors.astype("float32").tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (sentence-transformers sorts by length, so batches are length-homogeneous)."""
        return self._encode(list(texts), "passage")

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], "query")[0]

    @property
    def dimension(self) -> int:
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim) if dim else len(self.embed_query("x"))


def get_embeddings(settings: Settings) -> E5Embeddings:
    """One shared embedding model per (folder, threads) in this process (loading costs seconds)."""
    folder = model_folder(settings)
    key = (str(folder), settings.threads)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = E5Embeddings(
                folder, settings.threads, settings.embed_batch_size, bundled=settings.embed_model is None
            )
        model = _MODELS[key]
    model.batch_size = settings.embed_batch_size
    return model
