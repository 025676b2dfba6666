"""BM25 over jieba tokens (bm25s): tokenizer, build, save/load, search."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import numpy as np

from notesqa.text import STOP_WORDS

_WORD = re.compile(r"\w", re.UNICODE)
_JIEBA_LOCK = threading.Lock()
_jieba = None


NUMBA_MIN_DOCS = 50_000
"""From this many chunks, BM25 top-k selection runs numba-compiled (15x faster at 3*10^5 chunks here; the
one-off compile costs ~4 s, which small indexes do not need to pay)."""


def _selection(n_docs: int) -> str:
    if n_docs < NUMBA_MIN_DOCS:
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "numba"


def _cutter():  # type: ignore[no-untyped-def]
    global _jieba
    with _JIEBA_LOCK:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


TOKENIZER_VERSION = 2
"""Bump when :func:`tokenize` changes: indexes hold their chunks' tokens (2: a name written against its version
number also gives the two pieces, ``VERSIONED``)."""

VERSIONED = re.compile(r"([a-z]{2,})(\d+(?:\.\d+)?)")
"""A name written against its version number ("gpt3", "llama2", "qwen2.5"). jieba reads "GPT-3" as ``gpt``
and ``3`` but "GPT3" as one token, so such a token also gives its two pieces: a question or note that writes
the name either way finds the other. One-letter names ("t5", "a100") are left whole."""


def tokenize(text: str) -> list[str]:
    """Lower-cased jieba search-mode tokens without punctuation or stop words (``notesqa.text.STOP_WORDS``); a
    name joined to its version number is followed by its pieces (``VERSIONED``: "gpt3" -> gpt3, gpt, 3)."""
    jieba = _cutter()
    out = []
    for token in jieba.lcut_for_search(text.lower()):
        token = token.strip()
        if token and _WORD.search(token) and token not in STOP_WORDS:
            out.append(token)
            if m := VERSIONED.fullmatch(token):
                out.extend(m.groups())
    return out


class SparseIndex:
    """A BM25 index whose rows line up with a list of chunk ids."""

    def __init__(self, retriever, ids: list[str]):  # type: ignore[no-untyped-def]
        self.retriever = retriever
        self.ids = ids
        self._vocab = set(retriever.vocab_dict) if retriever is not None else set()
        self._selection = _selection(len(ids))

    @classmethod
    def build(cls, tokens: list[list[str]], ids: list[str]) -> SparseIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        if not ids:
            return cls(None, [])
        retriever = bm25s.BM25()
        retriever.index([t or [""] for t in tokens], show_progress=False)
        return cls(retriever, ids)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.retriever is not None:
            self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, ids: list[str]) -> SparseIndex:
        import bm25s

        if not ids:
            return cls(None, [])
        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(retriever, ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` (chunk id, BM25 score) with a positive score."""
        if self.retriever is None:
            return []
        terms = [t for t in tokenize(query) if t in self._vocab]
        if not terms:
            return []
        k = min(k, len(self.ids))
        docs, scores = self.retriever.retrieve(
            [terms], k=k, show_progress=False, n_threads=1, backend_selection=self._selection
        )
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (for diagnostics and baselines)."""
        if self.retriever is None:
            return np.zeros(0, dtype=np.float32)
        terms = [t for t in tokenize(query) if t in self._vocab]
        if not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(terms), dtype=np.float32)
