"""The ONNX Runtime encoder: tokenise, batch by length, pool and normalise as sentence-transformers does.

A tiny hand-made graph stands in for the exported model (its "token embeddings" are each token's id and its
attention mask), so pooling can be checked exactly; the real export is compared with torch in
``tests/ingest/test_embeddings.py`` (slow).
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from ingest.bundled_e5 import tokenizer_file
from ingest.onnx_encoder import OnnxEncoder, length_batches

TEXTS = ["短句", "a somewhat longer English sentence about backups", "混合 mixed 中英文 12345", "x"]


def test_length_batches_group_similar_lengths_longest_first() -> None:
    assert length_batches([3, 9, 1, 7, 5], 2) == [[1, 3], [4, 0], [2]]
    assert length_batches([], 4) == []


def _export(tmp_path: Path, **meta: object) -> Path:
    """An export folder whose graph returns ``[token id, attention mask]`` for every token."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info("token_embeddings", TensorProto.FLOAT, ["batch", "sequence", 2])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [-1])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_f", "axes"], ["ids_3d"]),
        helper.make_node("Unsqueeze", ["mask_f", "axes"], ["mask_3d"]),
        helper.make_node("Concat", ["ids_3d", "mask_3d"], ["token_embeddings"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "token-ids", [ids, mask], [out], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    folder = tmp_path / "export"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    shutil.copyfile(tokenizer_file(), folder / "tokenizer.json")
    defaults = {"max_seq_length": 512, "pad_token_id": 1, "pooling_modes": ["mean"], "normalize": False}
    meta = {**defaults, "dimension": 2, "prompts": {"query": "query: ", "passage": "passage: "}, **meta}
    (folder / "export.json").write_text(json.dumps(meta))
    return folder


@cache
def _tokenizer() -> Tokenizer:
    tok = Tokenizer.from_file(str(tokenizer_file()))
    tok.no_padding()
    return tok


def _ids(texts: list[str], prompt: str = "", max_length: int = 512) -> list[np.ndarray]:
    """Token ids of ``prompt + text`` as the model sees them (special tokens included)."""
    tok = _tokenizer()
    tok.enable_truncation(max_length)
    return [np.asarray(e.ids, dtype=np.float32) for e in tok.encode_batch([prompt + t for t in texts])]


def test_mean_pooling_ignores_padding_and_batching_keeps_each_texts_vector(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    encoder = OnnxEncoder(folder, folder / "model.onnx", threads=1, backend="onnx")
    assert encoder.get_embedding_dimension() == 2 and encoder.prompts["query"] == "query: "
    expected = np.asarray([[ids.mean(), 1.0] for ids in _ids(TEXTS, "passage: ")], dtype=np.float32)
    for batch_size in (1, 2, len(TEXTS)):  # padded batches of mixed lengths, in the texts' own order
        got = encoder.encode(TEXTS, batch_size, "passage: ")
        assert np.allclose(got, expected, rtol=1e-6), batch_size


def test_cls_max_and_sqrt_mean_are_concatenated_then_normalised(tmp_path: Path) -> None:
    modes = ["cls", "max", "mean_sqrt_len_tokens"]
    folder = _export(tmp_path, pooling_modes=modes, normalize=True, dimension=6)
    encoder = OnnxEncoder(folder, folder / "model.onnx", threads=1, backend="onnx")
    got = encoder.encode(TEXTS, 3)
    for ids, vec in zip(_ids(TEXTS), got, strict=True):
        n = len(ids)
        raw = np.asarray([ids[0], 1, ids.max(), 1, ids.sum() / np.sqrt(n), n / np.sqrt(n)])
        assert np.allclose(vec, raw / np.linalg.norm(raw), rtol=1e-5)


def test_texts_are_truncated_to_the_models_max_length(tmp_path: Path) -> None:
    folder = _export(tmp_path, max_seq_length=8)
    encoder = OnnxEncoder(folder, folder / "model.onnx", threads=1, backend="onnx")
    long = " ".join(["word"] * 50)
    (ids,) = _ids([long], max_length=8)
    assert len(ids) == 8
    assert np.allclose(encoder.encode([long], 4), [[ids.mean(), 1.0]])
