"""The LangChain embeddings and their backends: torch (fp32), onnx (fp32 under ONNX Runtime), onnx-int8."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import ingest.embeddings
from ingest.embeddings import E5Embeddings, get_embeddings
from ingest.model_files import onnx_folder
from ingest.onnx_export import OnnxRuntimeMissingError
from notesqa.settings import Settings

TEXTS = [
    "如何在 Linux 上查看磁盘空间？",
    "passage 里的中文句子：周末我们去西湖边散步，然后喝了一杯龙井茶。",
    "How do I rotate the API keys without downtime?",
    "Backups run nightly at 02:00 and are kept for thirty days.",
    "混合 mixed 中英文 sentence with numbers 12345 和标点。",
]


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_missing_onnxruntime_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_model: Path, backend: str
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    s = Settings(
        embed_model=user_model,
        embed_backend=backend,
        cache_dir=tmp_path / "cache",
        index_dir=tmp_path / "index",
    )
    with pytest.raises(OnnxRuntimeMissingError, match=r"pip install 'notesqa\[onnx\]'"):
        get_embeddings(s)
    with pytest.raises(ImportError, match="NOTESQA_EMBED_BACKEND=torch"):
        E5Embeddings(s.embed_model, 1, backend=backend, onnx_dir=onnx_folder(s))


def test_torch_backend_needs_no_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_model: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    s = Settings(
        embed_model=user_model,
        cache_dir=tmp_path / "cache",
        index_dir=tmp_path / "index",
        embed_backend="torch",
    )
    assert get_embeddings(s).backend == "torch"  # the model itself loads lazily


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "min_cos"), [("onnx", 0.999), ("onnx-int8", 0.995)])
def test_onnx_vectors_match_torch(tmp_path: Path, backend: str, min_cos: float) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch_emb = get_embeddings(Settings(index_dir=tmp_path / "index", embed_backend="torch"))
    onnx_emb = get_embeddings(Settings(index_dir=tmp_path / "index", embed_backend=backend))
    ref = np.asarray(torch_emb.embed_documents(TEXTS) + [torch_emb.embed_query(t) for t in TEXTS[:2]])
    got = np.asarray(onnx_emb.embed_documents(TEXTS) + [onnx_emb.embed_query(t) for t in TEXTS[:2]])
    assert got.shape == ref.shape == (len(TEXTS) + 2, onnx_emb.dimension)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cos = (ref * got).sum(axis=1)
    assert cos.min() >= min_cos, cos
    # batching by length must not change a text's vector: one at a time gives the same (fp32); int8 quantises
    # activations with one scale per batch, so there the batch shifts a vector a little
    single = np.asarray([onnx_emb.embed_documents([t])[0] for t in TEXTS])
    if backend == "onnx":
        assert np.allclose(single, got[: len(TEXTS)], atol=1e-4)
    else:
        assert (single * got[: len(TEXTS)]).sum(axis=1).min() >= min_cos


class _FakeModel:
    """Stands in for a loaded SentenceTransformer: records the batch size of every encode."""

    def __init__(self) -> None:
        self.prompts = {"query": "query: ", "passage": "passage: "}
        self.batch_sizes: list[int] = []

    def encode(self, texts: list[str], batch_size: int, **kwargs: object) -> np.ndarray:
        self.batch_sizes.append(batch_size)
        return np.ones((len(texts), 3), dtype=np.float32)


def test_a_batch_size_of_its_own_for_each_caller_and_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_model: Path
) -> None:
    loads: list[_FakeModel] = []

    def load(folder: Path, bundled: bool, *, threads: int | None = None) -> _FakeModel:
        loads.append(_FakeModel())
        return loads[-1]

    monkeypatch.setattr(ingest.embeddings, "load_sentence_transformer", load)
    base = {"embed_model": user_model, "embed_backend": "torch", "cache_dir": tmp_path / "cache", "threads": 1}
    small = get_embeddings(Settings(**base, embed_batch_size=4))
    large = get_embeddings(Settings(**base, embed_batch_size=64))
    assert (small.batch_size, large.batch_size) == (4, 64)  # asking for 64 left the first caller's 4 alone
    assert get_embeddings(Settings(**base, embed_batch_size=4)) is small
    small.embed_documents(["a", "b"])
    large.embed_documents(["a", "b"])
    small.embed_query("c")
    assert len(loads) == 1 and loads[0].batch_sizes == [4, 64, 4]  # one model, each caller's batch size
    with pytest.raises(AttributeError):
        small.batch_size = 64  # type: ignore[misc]
