"""BM25: jieba tokens, and the compiled top-k of large indexes returns what numpy returns."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from ingest import sparse
from ingest.sparse import SparseIndex, tokenize
from notesqa.text import MORE_ENGLISH_STOP_WORDS
from tests.conftest import CORPUS


def test_tokens_drop_function_words_and_keep_names() -> None:
    tokens = tokenize("Kosmos-1 有多少参数？What is the BLEU score?")
    assert "kosmos" in tokens and "参数" in tokens and "bleu" in tokens
    assert not {"的", "what", "is", "the", "多少"} & set(tokens)


CORPUS_TOKENS = (10387, "6f8f81bfc752dc5f7dbfd0c490e3a93eeea1cb4e54db51b07d03b8d6a507e740")
"""How many BM25 tokens the corpus notes make, and a digest of them, as measured before the stop-word lists of
BM25 and of lexical terms became one (``notesqa.text``): the index must not change with such a move."""


def test_bm25_tokens_of_the_corpus_are_unchanged() -> None:
    digest = hashlib.sha256()
    count = 0
    for path in sorted(CORPUS.glob("*.txt")):
        tokens = tokenize(path.read_text(encoding="utf-8"))
        count += len(tokens)
        digest.update(json.dumps(tokens, ensure_ascii=False).encode())
    assert (count, digest.hexdigest()) == CORPUS_TOKENS


def test_bm25_keeps_the_words_only_terms_leave_out() -> None:
    assert {"these", "have", "can"} <= set(tokenize("Can these models have memory?"))
    assert {"these", "have", "can"} <= MORE_ENGLISH_STOP_WORDS


def test_small_indexes_never_pay_for_compilation() -> None:
    assert sparse._selection(sparse.NUMBA_MIN_DOCS - 1) == "numpy"


@pytest.mark.slow
def test_compiled_top_k_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    docs = [[rng.choice(vocab) for _ in range(rng.randint(5, 40))] for _ in range(60_000)]
    index = SparseIndex.build(docs, [f"c{i}" for i in range(len(docs))])
    queries = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 6))) for _ in range(20)]
    assert sparse._selection(len(docs)) == "numba"
    compiled = [index.search(q, 10) for q in queries]
    monkeypatch.setattr(sparse, "NUMBA_MIN_DOCS", 10**9)
    numpy_only = SparseIndex(index.retriever, index.ids)  # the same BM25 matrix, selection made again
    assert numpy_only._selection == "numpy" and index._selection == "numba"
    plain = [numpy_only.search(q, 10) for q in queries]
    for rc, rp in zip(compiled, plain, strict=True):  # equal scores may come in either order
        assert [round(v, 4) for _, v in rc] == [round(v, 4) for _, v in rp]
        scores = dict(rp)
        assert all(abs(v - scores[i]) < 1e-4 for i, v in rc if i in scores)
        assert len({i for i, _ in rc} & set(scores)) >= len(rc) - 2
