"""Outlier smoothing: the smoothed graph computes the same function, and int8 quantisation loses less after it.

A toy graph (one MatMul whose input has one channel 50 times larger than the others, as the e5 feed-forward
inputs have) is run under ONNX Runtime before and after smoothing and after int8 quantisation of each;
``tests/ingest/test_embeddings.py`` checks the real int8 model's vectors against torch (slow).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ingest.onnx_smooth import calibration_passages, smooth_graph

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

K, N, ROWS, OUTLIER = 64, 32, 96, 7


def _toy(w: np.ndarray) -> object:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="product")],
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", N])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _inputs(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((ROWS, K)).astype(np.float32)
    x[:, OUTLIER] *= 50.0
    return x


def _run(model: object, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    return session.run(None, {"x": x})[0]


def _int8(model: object, tmp_path: Path, name: str) -> object:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = tmp_path / f"{name}.onnx", tmp_path / f"{name}_int8.onnx"
    onnx.save(model, str(src))
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(src, dst, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8)
    return onnx.load(str(dst))


def test_smoothing_keeps_the_function_and_halves_the_int8_error(tmp_path: Path) -> None:
    w = (np.random.default_rng(0).standard_normal((K, N)) * 0.05).astype(np.float32)
    plain, smoothed = _toy(w), _toy(w)
    calibration = _inputs(1)  # the maxima come from other inputs than the ones measured below
    assert smooth_graph(smoothed, {"x": np.abs(calibration).max(axis=0)}) == 1
    assert [n.op_type for n in smoothed.graph.node] == ["Mul", "MatMul"]

    x = _inputs(2)
    exact = _run(plain, x)
    np.testing.assert_allclose(_run(smoothed, x), exact, rtol=1e-4, atol=1e-4)
    plain_error = np.abs(_run(_int8(plain, tmp_path, "plain"), x) - exact).mean()
    smoothed_error = np.abs(_run(_int8(smoothed, tmp_path, "smoothed"), x) - exact).mean()
    assert smoothed_error < 0.5 * plain_error, (smoothed_error, plain_error)


def test_a_weight_shared_by_two_products_or_an_unmeasured_input_is_left_alone() -> None:
    from onnx import helper

    w = np.ones((K, N), dtype=np.float32)
    model = _toy(w)
    model.graph.node.append(helper.make_node("MatMul", ["x", "w"], ["y2"], name="second"))
    assert smooth_graph(model, {"x": np.ones(K, dtype=np.float32)}) == 0
    assert smooth_graph(_toy(w), {"other": np.ones(K, dtype=np.float32)}) == 0


def test_the_calibration_text_ships_with_the_package_in_both_languages() -> None:
    passages = calibration_passages()
    assert len(passages) >= 10
    text = "\n".join(passages)
    assert any("\u4e00" <= c <= "\u9fff" for c in text) and "the" in text.split()
