"""The index store: what makes an index incompatible with the settings (its signature), and what it stores of
a chunk comes back as it was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ingest.onnx_export as onnx_export
from ingest.chunking import Chunk, TableSpan, table_spans
from ingest.store import _chunk_from_record, _chunk_record, signature
from notesqa.settings import Settings


def test_only_int8_changes_the_index_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sigs = {b: signature(Settings(embed_backend=b, cache_dir=tmp_path)) for b in ("torch", "onnx", "onnx-int8")}
    assert sigs["torch"] == sigs["onnx"]  # both fp32: same vectors, indexes stay valid across the switch
    assert sigs["onnx-int8"] != sigs["torch"]
    assert sigs["onnx-int8"]["embed_backend"] == "onnx-int8"
    # another int8 export (e.g. without outlier smoothing) gives other vectors: its indexes are rebuilt
    monkeypatch.setattr(onnx_export, "ONNX_EXPORT_VERSION", onnx_export.ONNX_EXPORT_VERSION + 1)
    assert signature(Settings(embed_backend="onnx-int8", cache_dir=tmp_path)) != sigs["onnx-int8"]
    assert signature(Settings(embed_backend="onnx", cache_dir=tmp_path)) == sigs["onnx"]

TEXT = "常见的大模型如下:\n\n发布时间 产品 参数量\n2020.6 GPT-3 175B\n2023.3 GPT-4 1760B"


def _chunk() -> Chunk:
    return Chunk("c1", "n.md", "n", ("n", "模型"), 10, 10 + len(TEXT), TEXT, "n > 模型", 3, table_spans(TEXT))


def test_a_chunk_and_its_tables_round_trip_through_chunks_jsonl() -> None:
    chunk = _chunk()
    assert chunk.tables == (TableSpan(TEXT.index("发布"), len(TEXT), "发布时间 产品 参数量"),)
    rec = json.loads(json.dumps(_chunk_record(chunk, ["模型"]), ensure_ascii=False))
    assert rec.pop("tokens") == ["模型"]
    assert _chunk_from_record(rec) == chunk


def test_a_chunk_written_before_tables_were_stored_has_them_parsed() -> None:
    rec = json.loads(json.dumps(_chunk_record(_chunk(), [])))
    del rec["tables"], rec["tokens"]
    assert _chunk_from_record(rec) == _chunk()
