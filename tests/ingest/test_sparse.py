"""BM25: jieba tokens, and the compiled top-k of large indexes returns what numpy returns."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from ingest import sparse
from ingest.sparse import TOKENIZER_VERSION, SparseIndex, tokenize
from notesqa.text import MORE_ENGLISH_STOP_WORDS
from tests.conftest import CORPUS


def test_tokens_drop_function_words_and_keep_names() -> None:
    tokens = tokenize("Kosmos-1 有多少参数？What is the BLEU score?")
    assert "kosmos" in tokens and "参数" in tokens and "bleu" in tokens
    assert not {"的", "what", "is", "the", "多少"} & set(tokens)


CORPUS_TOKENS = (10417, "db3ece85768465c6b2e53239a20716d3d12d4900e7c9d52021b586c38469dcdd")
"""How many BM25 tokens the corpus notes make, and a digest of them, for ``sparse.TOKENIZER_VERSION`` 2: the
index must not change without that version changing (moving code, such as the stop-word lists of BM25 and of
lexical terms becoming one in ``notesqa.text``, must leave it as it is)."""


def test_bm25_tokens_of_the_corpus_are_unchanged() -> None:
    digest = hashlib.sha256()
    count = 0
    for path in sorted(CORPUS.glob("*.txt")):
        tokens = tokenize(path.read_text(encoding="utf-8"))
        count += len(tokens)
        digest.update(json.dumps(tokens, ensure_ascii=False).encode())
    assert TOKENIZER_VERSION == 2 and (count, digest.hexdigest()) == CORPUS_TOKENS


def test_a_name_joined_to_its_version_also_gives_its_pieces() -> None:
    assert tokenize("GPT-3 的参数") == ["gpt", "3", "参数"]  # jieba's reading of the hyphenated name, unchanged
    assert tokenize("GPT3 的参数") == ["gpt3", "gpt", "3", "参数"]  # so a question with either finds both
    assert tokenize("qwen2.5 和 A100、T5") == ["qwen2.5", "qwen", "2.5", "a100", "t5"]  # one letter: a whole name


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
