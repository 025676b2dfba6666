"""The one-time ONNX export of the embedding model (with torch), and its int8 quantisation.

The ``onnx`` and ``onnx-int8`` backends (``settings.embed_backend``) run the model under ONNX Runtime, with no
torch at run time (:mod:`ingest.onnx_encoder`). The export is made once, with torch, into the folder
:func:`ingest.model_files.onnx_folder` names (never inside a user's own model folder): ``model.onnx`` (fp32,
ONNX Runtime's BERT fusions, exact GELU, so the same vectors as torch) and, on first use of ``onnx-int8``,
``model_int8.onnx`` (dynamic int8 quantisation of the MatMul/Attention weights, after their inputs' outlier
channels are smoothed into the weights, :mod:`ingest.onnx_smooth`). ``export.json`` records what
the encoder needs besides the graph (pooling, normalisation, prompts) and what the export was made from.
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
from pathlib import Path
from typing import Any

from ingest.model_files import offline_env
from ingest.torch_model import embedding_dimension, load_sentence_transformer

_EXPORT_LOCK = threading.Lock()

ONNX_EXPORT_VERSION = 2
"""Bump when the export changes (graph, fusions, quantisation): exports made by another version are redone.
2: the int8 model is quantised after outlier smoothing."""

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
"""File of each ONNX backend inside the export folder."""

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")
"""sentence-transformers pooling modes the export accepts (and :class:`ingest.onnx_encoder.OnnxEncoder` pools)."""


class OnnxRuntimeMissingError(ImportError):
    """An ONNX backend was asked for but ``onnxruntime`` (or ``onnx``, for the export) is not installed."""


class OnnxExportError(RuntimeError):
    """The embedding model cannot be run by the ONNX backends (e.g. extra modules after pooling)."""


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


def _fingerprint(folder: Path) -> str:
    """Names, sizes and mtimes of the model folder's files: an export is redone when the model changes."""
    items = sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    )
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def read_export_meta(out: Path) -> dict[str, Any] | None:
    """The export's ``export.json``, or ``None`` when there is none (or it cannot be read)."""
    try:
        return json.loads((out / "export.json").read_text())
    except (OSError, ValueError):
        return None


def export_meta(out: Path) -> dict[str, Any]:
    """The export's ``export.json``, which reading the export needs; ``OnnxExportError`` when it is missing."""
    meta = read_export_meta(out)
    if meta is None:
        raise OnnxExportError(f"{out}/export.json is missing or unreadable; delete {out}.")
    return meta


def _export_fp32(src: Path, out: Path, bundled: bool) -> None:
    """Write ``model.onnx`` (token embeddings out), ``tokenizer.json`` and ``export.json`` into ``out``."""
    # loaded first: it says how to install torch and sentence-transformers if they are missing
    st = load_sentence_transformer(src, bundled, attn_implementation="eager")  # eager: plain ops that ORT fuses
    import torch
    from sentence_transformers.models import Normalize, Pooling

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
    if not ok or not pooling or not pooling.include_prompt or any(m not in POOLING_MODES for m in modes):
        raise OnnxExportError(
            f"{src}: the ONNX backends support Transformer + Pooling ({', '.join(POOLING_MODES)}) + optional "
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
        "dimension": int(embedding_dimension(st) or config.hidden_size),
        "prompts": dict(st.prompts or {}),
        "fusions": {k: v for k, v in optimized.get_fused_operator_statistics().items() if v},
    }
    (out / "export.json").write_text(json.dumps(meta, indent=2))


def _quantize_int8(out: Path) -> None:
    """Dynamic int8 quantisation (per-channel weights) of the fp32 export's MatMul/Attention nodes, smoothed."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ingest.onnx_smooth import smooth_model

    tmp = out / f".{ONNX_FILES['onnx-int8']}.{os.getpid()}.tmp"
    smoothed = out / f".smoothed.{os.getpid()}.tmp"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice about static (calibrated) pre-processing
    try:
        # the fused com.microsoft ops defeat ONNX shape inference: their outputs are float
        smooth_model(out / ONNX_FILES["onnx"], smoothed, out)
        quantize_dynamic(
            smoothed,
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
        smoothed.unlink(missing_ok=True)


def ensure_onnx_export(src: Path, out: Path, backend: str, bundled: bool) -> Path:
    """Return the ONNX file for ``backend``, exporting ``src`` into ``out`` first if needed (once).

    The fp32 export is built in a temporary sibling folder and renamed into place, so an interrupted export
    never leaves a half-written model; an export of another model version or export version is redone.
    """
    require_onnxruntime(backend)
    target = out / ONNX_FILES[backend]
    with _EXPORT_LOCK:
        meta = read_export_meta(out)
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
                    if read_export_meta(out) is None:  # another process did not just put its export there
                        raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_file():
            _quantize_int8(out)
    return target
