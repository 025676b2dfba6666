"""The one-time ONNX export: made once, redone when the model changes, int8 quantised on demand.

The torch export and the quantiser themselves are replaced by stand-ins that write the files they would;
``tests/ingest/test_embeddings.py`` checks a real export's vectors against torch (slow).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import ingest.onnx_export as onnx_export
from ingest.onnx_export import (
    ONNX_EXPORT_VERSION,
    ONNX_FILES,
    OnnxRuntimeMissingError,
    ensure_onnx_export,
    read_export_meta,
    require_onnxruntime,
)


@pytest.fixture()
def exports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stand-ins for the torch export and the int8 quantiser; returns the log of what ran."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    runs: list[str] = []

    def export_fp32(src: Path, out: Path, bundled: bool) -> None:
        runs.append("fp32")
        (out / ONNX_FILES["onnx"]).write_bytes(b"graph")
        meta = {"version": ONNX_EXPORT_VERSION, "fingerprint": onnx_export._fingerprint(src)}
        (out / "export.json").write_text(json.dumps(meta))

    def quantize_int8(out: Path) -> None:
        runs.append("int8")
        (out / ONNX_FILES["onnx-int8"]).write_bytes(b"int8 graph")

    monkeypatch.setattr(onnx_export, "_export_fp32", export_fp32)
    monkeypatch.setattr(onnx_export, "_quantize_int8", quantize_int8)
    return runs


def _model(tmp_path: Path) -> Path:
    src = tmp_path / "model"
    src.mkdir()
    (src / "model.safetensors").write_bytes(b"weights")
    return src


def test_the_export_is_made_once(tmp_path: Path, exports: list[str]) -> None:
    src, out = _model(tmp_path), tmp_path / "cache" / "model-onnx"
    assert ensure_onnx_export(src, out, "onnx", bundled=False) == out / "model.onnx"
    assert ensure_onnx_export(src, out, "onnx", bundled=False) == out / "model.onnx"
    assert exports == ["fp32"]
    assert read_export_meta(out)["version"] == ONNX_EXPORT_VERSION  # type: ignore[index]
    assert [p.name for p in out.parent.iterdir()] == ["model-onnx"]  # no temporary folder left behind


def test_int8_is_quantised_from_the_fp32_export_on_first_use(tmp_path: Path, exports: list[str]) -> None:
    src, out = _model(tmp_path), tmp_path / "model-onnx"
    ensure_onnx_export(src, out, "onnx", bundled=False)
    assert ensure_onnx_export(src, out, "onnx-int8", bundled=False) == out / "model_int8.onnx"
    assert ensure_onnx_export(src, out, "onnx-int8", bundled=False) == out / "model_int8.onnx"
    assert exports == ["fp32", "int8"]


def test_the_export_is_redone_when_the_model_or_the_export_version_changes(
    tmp_path: Path, exports: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = _model(tmp_path), tmp_path / "model-onnx"
    ensure_onnx_export(src, out, "onnx-int8", bundled=False)
    (src / "model.safetensors").write_bytes(b"other weights")
    ensure_onnx_export(src, out, "onnx-int8", bundled=False)
    assert exports == ["fp32", "int8", "fp32", "int8"]  # the old int8 file went with the old export
    monkeypatch.setattr(onnx_export, "ONNX_EXPORT_VERSION", ONNX_EXPORT_VERSION + 1)
    ensure_onnx_export(src, out, "onnx", bundled=False)
    assert exports[-1] == "fp32" and len(exports) == 5


def test_a_failed_export_leaves_the_previous_one_in_place(
    tmp_path: Path, exports: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = _model(tmp_path), tmp_path / "model-onnx"
    ensure_onnx_export(src, out, "onnx", bundled=False)

    def broken(src: Path, out: Path, bundled: bool) -> None:
        (out / "model.onnx").write_bytes(b"half")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(onnx_export, "_export_fp32", broken)
    (src / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(RuntimeError, match="interrupted"):
        ensure_onnx_export(src, out, "onnx", bundled=False)
    assert (out / "model.onnx").read_bytes() == b"graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model-onnx"]  # the half export is gone


def test_the_export_needs_onnx_besides_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    assert require_onnxruntime("onnx") is not None  # running an export needs only onnxruntime
    with pytest.raises(OnnxRuntimeMissingError, match=r"pip install 'notesqa\[onnx\]'"):
        require_onnxruntime("onnx", for_export=True)
