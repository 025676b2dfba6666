"""Hybrid retrieval: dense (e5 ``query:``) and BM25 (jieba) rankings fused by reciprocal rank fusion."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.chunking import Chunk
from ingest.embeddings import E5Embeddings, get_embeddings
from ingest.store import Index, IndexCorruptError, current_generation, load_index, signature
from notesqa.settings import Settings
from rag.scope import Scope


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with the evidence behind its rank."""

    chunk: Chunk
    score: float
    """Fused (RRF) score; for single-retriever rankings, that retriever's score."""
    dense: float | None = None
    """Cosine similarity to the query, when the dense retriever ranked it."""
    bm25: float | None = None
    """BM25 score, when BM25 ranked it."""

    def as_dict(self) -> dict[str, object]:
        return {"source": self.chunk.source, "chunk_id": self.chunk.id, "text": self.chunk.text,
                "score": round(self.score, 6), "dense": self.dense, "bm25": self.bm25,
                "start": self.chunk.start, "end": self.chunk.end, "lines": list(self.chunk.lines),
                "title": self.chunk.title,
                "headings": list(self.chunk.headings)}


def rrf(rankings: list[tuple[list[str], float]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion: ``sum(weight / (k + rank))`` over the rankings (ranks start at 1)."""
    fused: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, chunk_id in enumerate(ids, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


class HybridRetriever:
    """Callable ``retriever(query, k) -> list[Hit]`` over one loaded index generation, optionally only over the
    notes in a ``Scope`` (``ScopeError`` when it holds none)."""

    def __init__(self, index: Index, embeddings: E5Embeddings, settings: Settings, scope: Scope | None = None):
        self.index = index
        self.embeddings = embeddings
        self.settings = settings
        self.scope = scope
        self.notes: list[str] | None = scope.notes(index.tags_by_note()) if scope else None
        """The notes in scope (``None``: every note)."""
        self.only: frozenset[str] | None = None if self.notes is None else frozenset(
            c.id for source in self.notes for c in index.note_chunks(source))

    def dense(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.index.dense_search(self.embeddings.embed_query(query), k, self.only)

    def bm25(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.index.sparse_search(query, k, self.only)

    def __call__(self, query: str, k: int | None = None, also: Sequence[str] = ()) -> list[Hit]:
        """Top ``k`` chunks for ``query``; ``also`` are other renderings of it (e.g. a translation) whose
        rankings join the fusion. Reported dense/BM25 scores are the best over all renderings."""
        s = self.settings
        k = k or s.top_k
        rankings: list[tuple[list[str], float]] = []
        dense_score: dict[str, float] = {}
        bm25_score: dict[str, float] = {}
        for text in (query, *also):
            dense = self.dense(text, s.candidate_k)
            sparse = self.bm25(text, s.candidate_k)
            rankings += [([i for i, _ in dense], s.dense_weight), ([i for i, _ in sparse], s.bm25_weight)]
            for scores, found in ((dense_score, dense), (bm25_score, sparse)):
                for i, v in found:
                    scores[i] = max(v, scores.get(i, v))
        fused = rrf(rankings, s.rrf_k)
        ranked = sorted(fused, key=lambda i: (-fused[i], -dense_score.get(i, -1.0)))[:k]
        return [Hit(self.index.chunks[i], fused[i], dense_score.get(i), bm25_score.get(i)) for i in ranked]


class IndexMismatchError(IndexCorruptError):
    """The index was built with another embedding model than the settings name (its vectors can't be searched
    with this model's queries)."""


def check_compatible(index: Index, settings: Settings) -> None:
    """Raise ``IndexMismatchError`` unless ``index`` was embedded with the model (and quantisation)
    ``settings`` use, and its keyword tokens were made the way questions are tokenised now."""
    keys = ("embed_model", "embed_backend")
    expected = signature(settings)
    built_with, using = ([sig.get(k) for k in keys if sig.get(k)] for sig in (index.manifest.signature, expected))
    if built_with != using:
        raise IndexMismatchError(
            f"The index at {settings.index_dir} was built with the embedding model {' '.join(built_with)}, but the "
            f"settings use {' '.join(using)}. Run `notesqa ingest --rebuild` (or set NOTESQA_EMBED_MODEL / "
            "NOTESQA_EMBED_BACKEND back)."
        )
    if index.manifest.signature.get("bm25_tokenizer", 1) != expected["bm25_tokenizer"]:
        raise IndexMismatchError(
            f"The index at {settings.index_dir} holds keyword (BM25) tokens of an older version of notesqa. "
            "Run `notesqa ingest` to rebuild it."
        )


class IndexHandle:
    """Keeps the live index loaded and swaps to a newer generation between queries.

    ``get()`` returns an immutable :class:`Index`; a query that holds it keeps answering from it even
    while an ingest writes the next generation.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._index: Index | None = None

    def get(self) -> Index:
        gen = current_generation(self.settings.index_dir)
        with self._lock:
            if self._index is None or self._index.path != gen:
                index = load_index(self.settings.index_dir, get_embeddings(self.settings), settings=self.settings)
                check_compatible(index, self.settings)
                self._index = index
            return self._index

    def retriever(self, scope: Scope | None = None) -> HybridRetriever:
        return HybridRetriever(self.get(), get_embeddings(self.settings), self.settings, scope)
