"""Runs the ONNX export of the embedding model under ONNX Runtime: the ``onnx`` and ``onnx-int8`` backends.

Tokenises with the export's ``tokenizer.json``, batches texts of similar length, and pools and normalises in
numpy as sentence-transformers does (:mod:`ingest.onnx_export` records how in ``export.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.onnx_export import export_meta, require_onnxruntime


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so little padding is computed."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class OnnxEncoder:
    """Runs an ONNX export under ONNX Runtime: tokenise, batch by token length, pool and normalise in numpy."""

    def __init__(self, export_dir: Path, model_file: Path, threads: int, backend: str):
        ort = require_onnxruntime(backend)
        from tokenizers import Tokenizer

        meta = export_meta(export_dir)
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
