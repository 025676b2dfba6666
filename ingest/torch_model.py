"""The embedding model under torch (sentence-transformers): what the ``torch`` backend runs and the ONNX export traces.

torch and sentence-transformers are imported only when a model is loaded (seconds, and hundreds of MB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_sentence_transformer(folder: Path, bundled: bool, *, threads: int | None = None, **model_kwargs: Any) -> Any:
    """Load ``folder`` as a ``SentenceTransformer`` on the CPU, from local files only, with transformers quiet.

    ``bundled``: the converted e5 has no pooler weights, so none is built (and none is reported missing).
    ``threads`` sets torch's thread count first; ``model_kwargs`` go to the Hugging Face model.
    """
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("Embedding needs torch and sentence-transformers; run `make setup`.") from exc
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if threads is not None:
        torch.set_num_threads(threads)
    if bundled:
        model_kwargs["add_pooling_layer"] = False
    kwargs = {"model_kwargs": model_kwargs} if model_kwargs else {}
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True, **kwargs)


def embedding_dimension(model: Any) -> int | None:
    """Output dimension of a ``SentenceTransformer`` (version 6 renamed ``get_sentence_embedding_dimension``)
    or of an :class:`ingest.onnx_encoder.OnnxEncoder`."""
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return get()
