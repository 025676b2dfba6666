"""The index store: what makes an index incompatible with the settings (its signature)."""

from __future__ import annotations

from pathlib import Path

from ingest.store import signature
from notesqa.settings import Settings


def test_only_int8_changes_the_index_signature(tmp_path: Path) -> None:
    sigs = {b: signature(Settings(embed_backend=b, cache_dir=tmp_path)) for b in ("torch", "onnx", "onnx-int8")}
    assert sigs["torch"] == sigs["onnx"]  # both fp32: same vectors, indexes stay valid across the switch
    assert sigs["onnx-int8"] != sigs["torch"]
    assert sigs["onnx-int8"]["embed_backend"] == "onnx-int8"
