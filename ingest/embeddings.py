"""The embedding model as a LangChain ``Embeddings`` (:class:`E5Embeddings`), loaded once per process.

The model is the bundled multilingual-e5-small unless ``settings.embed_model`` names another
sentence-transformers folder (:mod:`ingest.model_files`). It runs on one of three backends
(``settings.embed_backend``): ``torch`` runs the folder as it is (:mod:`ingest.torch_model`); ``onnx`` and
``onnx-int8`` run a one-time ONNX export of it (:mod:`ingest.onnx_export`) under ONNX Runtime, with no torch at
run time (:mod:`ingest.onnx_encoder`). Loading takes seconds, so :func:`get_embeddings` hands out shared
instances, and every instance of a model, thread count and backend runs the same loaded model.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from ingest.bundled_e5 import FOLDER_NAME
from ingest.model_files import model_folder, offline_env, onnx_folder
from ingest.onnx_encoder import OnnxEncoder
from ingest.onnx_export import ensure_onnx_export, require_onnxruntime
from ingest.torch_model import embedding_dimension, load_sentence_transformer
from notesqa.settings import Settings

_LOCK = threading.Lock()
_INSTANCES: dict[tuple[str, int, str, int], E5Embeddings] = {}
"""What :func:`get_embeddings` hands out, per (model folder, threads, backend, batch size)."""

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, int, str, bool, str | None], Any] = {}
"""Loaded models (a ``SentenceTransformer`` or an :class:`OnnxEncoder`), shared by every instance that runs the
same folder with the same threads and backend, whatever its batch size."""


def model_id(settings: Settings) -> str:
    """A stable name for the embedding model, recorded in the index manifest."""
    if settings.embed_model is not None:
        return str(Path(settings.embed_model).expanduser().resolve())
    return f"bundled:{FOLDER_NAME}"


def _load(folder: Path, threads: int, backend: str, bundled: bool, onnx_dir: Path | None) -> Any:
    """The model, loaded once per process (it takes seconds) and exported to ONNX first if the backend needs it."""
    key = (str(folder), threads, backend, bundled, None if onnx_dir is None else str(onnx_dir))
    with _LOAD_LOCK:
        if key not in _LOADED:
            offline_env()
            if backend != "torch":
                assert onnx_dir is not None
                model_file = ensure_onnx_export(folder, onnx_dir, backend, bundled)
                _LOADED[key] = OnnxEncoder(onnx_dir, model_file, threads, backend)
            else:
                _LOADED[key] = load_sentence_transformer(folder, bundled, threads=threads)
        return _LOADED[key]


class E5Embeddings(Embeddings):
    """LangChain embeddings over a sentence-transformers model, with e5's ``query:``/``passage:`` prompts.

    Cheap to make: the model loads on first use and is shared with every other instance of the same folder,
    threads and backend (:func:`_load`). Instances are shared too (:func:`get_embeddings`), so nothing about
    one changes after it is made: a caller that needs another batch size asks for an instance of its own.
    """

    def __init__(
        self,
        folder: Path,
        threads: int,
        batch_size: int = 16,
        bundled: bool = False,
        backend: str = "torch",
        onnx_dir: Path | None = None,
    ):
        self.folder = folder
        self.threads = threads
        self._batch_size = batch_size
        self.bundled = bundled
        self.backend = backend
        self.onnx_dir = onnx_dir
        if backend != "torch":
            if onnx_dir is None:
                raise ValueError(f"embed_backend={backend!r} needs onnx_dir (see onnx_folder()).")
            require_onnxruntime(backend)  # fail at once, not at the first chunk

    @property
    def batch_size(self) -> int:
        """Texts per encoder batch (read-only: the instance may be shared)."""
        return self._batch_size

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        return _load(self.folder, self.threads, self.backend, self.bundled, self.onnx_dir)

    def _encode(self, texts: list[str], name: str) -> list[list[float]]:
        if not texts:
            return []
        model = self.model
        prompts = model.prompts or {}
        if isinstance(model, OnnxEncoder):
            vectors = model.encode(texts, self.batch_size, prompts.get(name, ""))
        else:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
                **({"prompt_name": name} if name in prompts else {}),
            )
        return vectors.astype("float32").tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (batches are formed from length-sorted passages, so they are length-homogeneous)."""
        return self._encode(list(texts), "passage")

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], "query")[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed several queries (e5's ``query:`` prompt) in batches."""
        return self._encode(list(texts), "query")

    @property
    def dimension(self) -> int:
        dim = embedding_dimension(self.model)
        return int(dim) if dim else len(self.embed_query("x"))


def get_embeddings(settings: Settings, backend: str | None = None) -> E5Embeddings:
    """The embeddings for ``settings`` (``backend`` overrides ``settings.embed_backend``).

    One shared instance per (model folder, threads, backend, batch size) in this process, all instances of a
    folder, threads and backend running one loaded model: settings with another ``embed_batch_size`` get an
    instance of their own instead of changing the batch size under the other callers.
    """
    folder = model_folder(settings)
    backend = backend or settings.embed_backend
    key = (str(folder), settings.threads, backend, settings.embed_batch_size)
    with _LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = E5Embeddings(
                folder,
                settings.threads,
                settings.embed_batch_size,
                bundled=settings.embed_model is None,
                backend=backend,
                onnx_dir=None if backend == "torch" else onnx_folder(settings),
            )
        return _INSTANCES[key]
