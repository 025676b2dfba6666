"""The torch (sentence-transformers) side of the embedding model.

Loading a model is covered by the slow tests (``test_embeddings.py``, ``test_bundled_e5.py``).
"""

from __future__ import annotations

from ingest.torch_model import embedding_dimension


class _Before6:
    def get_sentence_embedding_dimension(self) -> int:
        return 384


class _From6(_Before6):
    def get_embedding_dimension(self) -> int:
        return 768


def test_embedding_dimension_under_either_sentence_transformers_name() -> None:
    assert embedding_dimension(_Before6()) == 384
    assert embedding_dimension(_From6()) == 768  # the new name wins where both exist
