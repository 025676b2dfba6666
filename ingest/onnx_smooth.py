"""Outlier smoothing before int8 quantisation: moves the embedding model's activation outliers into its weights.

Transformer encoders carry a few activation channels far larger than the rest: in multilingual-e5-small one
channel of the feed-forward input reaches 12-60 in most layers while the 99th percentile of the others is 3-4.
Dynamic int8 quantisation gives a batch of activations one scale, so that channel sets the step and every other
channel loses precision. SmoothQuant (Xiao et al., 2023) divides input channel ``j`` of each quantised matrix
product by ``s_j`` and multiplies row ``j`` of its weight by ``s_j``: the product is the same in exact
arithmetic, and the smoothed activations lose less to quantisation. ``s_j = a_j**alpha / w_j**(1 - alpha)``,
with ``a_j`` the channel's largest activation on a fixed calibration text and ``w_j`` the largest weight of its
row. The division is a ``Mul`` node in front of the product (an elementwise pass, small beside the product).

The calibration text (``calibration.md`` beside this module) is generic note-like writing in Chinese and
English, written for this purpose and unrelated to any evaluation set: the outlier channels are a property of
the model, and the int8 run still measures each batch's own range.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ingest.onnx_export import export_meta

SMOOTH_ALPHA = 0.7
"""How much of an outlier moves into the weights (0: none, 1: all). Chosen by the int8 vectors' cosine to the
fp32 ones over the chunks of both public corpora (α 0.5 / 0.6 / 0.7 / 0.8 / 0.9): 0.7 and 0.6 were closest
(mean 0.9990 on so-large-lm and 0.9992 on the default corpus for 0.7, against 0.9967 and 0.9975 without
smoothing); docs/experiments.md."""

MIN_SCALE = 1e-2
"""Smallest ``s_j``: a channel that is almost silent on the calibration text is amplified at most 100 times."""

CALIBRATION_FILE = Path(__file__).with_name("calibration.md")
"""The calibration text; its paragraphs (separated by blank lines) are read in windows of
:data:`CALIBRATION_WINDOW`, so passages of a few hundred tokens, like real chunks, are seen."""

CALIBRATION_WINDOW = 3
"""Paragraphs per calibration passage."""


def calibration_passages(path: Path = CALIBRATION_FILE, window: int = CALIBRATION_WINDOW) -> list[str]:
    """Overlapping windows of ``window`` paragraphs of the calibration text."""
    paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return ["\n\n".join(paragraphs[i : i + window]) for i in range(len(paragraphs))]


def _smoothable(model: Any) -> set[str]:
    """Names of the 2-D weights that a MatMul/Attention multiplies its first input by, each used by one node."""
    initializers = {t.name: t for t in model.graph.initializer}
    uses = Counter(name for n in model.graph.node for name in n.input)
    return {
        n.input[1]
        for n in model.graph.node
        if n.op_type in ("MatMul", "Attention") and len(n.input) > 1 and n.input[1] in initializers
        and len(initializers[n.input[1]].dims) == 2 and uses[n.input[1]] == 1
    }


def activation_maxima(model: Any, names: list[str], export_dir: Path, texts: list[str]) -> dict[str, np.ndarray]:
    """Largest absolute value of each channel of the tensors ``names`` over ``texts`` (as passages)."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    meta = export_meta(export_dir)
    tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
    tokenizer.enable_truncation(int(meta["max_seq_length"]))
    feeds_needed = {i.name for i in session.get_inputs()}
    maxima: dict[str, np.ndarray] = {}
    for text in texts:
        ids = np.asarray([tokenizer.encode(meta["prompts"].get("passage", "") + text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in feeds_needed:
            feeds["token_type_ids"] = np.zeros_like(ids)
        for name, value in zip(names, session.run(names, feeds), strict=True):
            peak = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            maxima[name] = np.maximum(maxima[name], peak) if name in maxima else peak
    return maxima


def smooth_graph(model: Any, maxima: dict[str, np.ndarray], alpha: float = SMOOTH_ALPHA) -> int:
    """Smooth, in place, every weight-carrying MatMul/Attention whose input has ``maxima``. Returns how many.

    The input of such a node is multiplied by ``1/s`` (a new ``Mul`` node) and row ``j`` of its weight by
    ``s_j``, so the graph computes the same function.
    """
    from onnx import helper, numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    weights = _smoothable(model)
    nodes, smoothed = [], 0
    for node in model.graph.node:
        if len(node.input) > 1 and node.input[1] in weights and node.input[0] in maxima:
            weight = initializers[node.input[1]]
            w = numpy_helper.to_array(weight).astype(np.float32)
            act = np.maximum(maxima[node.input[0]], 1e-5)
            scale = np.clip(act**alpha / np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1 - alpha), MIN_SCALE, None)
            weight.CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32), weight.name))
            inverse, out = f"smooth_{smoothed}_inverse_scale", f"{node.input[0]}_smoothed_{smoothed}"
            model.graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
            nodes.append(helper.make_node("Mul", [node.input[0], inverse], [out], name=f"Smooth_{smoothed}"))
            node.input[0] = out
            smoothed += 1
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return smoothed


def smooth_model(src: Path, dst: Path, export_dir: Path, alpha: float = SMOOTH_ALPHA) -> int:
    """Write ``dst``: the export ``src`` smoothed with maxima measured on the calibration text."""
    import onnx

    model = onnx.load(str(src))
    weights = _smoothable(model)
    inputs = sorted({n.input[0] for n in model.graph.node if len(n.input) > 1 and n.input[1] in weights})
    maxima = activation_maxima(model, inputs, export_dir, calibration_passages())
    smoothed = smooth_graph(model, maxima, alpha)
    onnx.save(model, str(dst))
    return smoothed
