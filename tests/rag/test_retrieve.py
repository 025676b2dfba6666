"""Reciprocal rank fusion, and hybrid retrieval over the real dev index (slow)."""

from __future__ import annotations

import pytest

from rag.eval.dataset import load_questions
from rag.eval.scoring import RetrievalEvaluator
from rag.retrieve import IndexHandle, rrf
from tests.conftest import DEV


def test_rrf_rewards_agreement_and_respects_weights() -> None:
    fused = rrf([(["a", "b", "c"], 1.0), (["b", "c", "d"], 1.0)], k=10)
    assert max(fused, key=fused.get) == "b"
    heavy = rrf([(["a", "b"], 1.0), (["b", "a"], 3.0)], k=10)
    assert heavy["b"] > heavy["a"]


@pytest.mark.slow
def test_hybrid_beats_each_retriever_alone_on_the_dev_set(dev_index) -> None:  # type: ignore[no-untyped-def]
    questions = [q for q in load_questions(DEV) if q.evidence]
    retriever = IndexHandle(dev_index).retriever()
    texts = lambda ids: [retriever.index.chunks[i].text for i in ids]  # noqa: E731
    evaluate = RetrievalEvaluator()
    hybrid = evaluate(questions, [texts([h.chunk.id for h in retriever(q.question, 10)]) for q in questions])
    bm25 = evaluate(questions, [texts([i for i, _ in retriever.bm25(q.question, 10)]) for q in questions])
    dense = evaluate(questions, [texts([i for i, _ in retriever.dense(q.question, 10)]) for q in questions])
    assert hybrid["hit@5"] >= max(bm25["hit@5"], dense["hit@5"])
    assert hybrid["mrr"] >= max(bm25["mrr"], dense["mrr"])
    assert hybrid["hit@5"] >= 0.9


@pytest.mark.slow
def test_english_question_finds_chinese_notes(dev_index) -> None:  # type: ignore[no-untyped-def]
    hits = IndexHandle(dev_index).retriever()("Why did Databricks choose the name Dolly?", 5)
    assert any("克隆羊" in h.chunk.text for h in hits)


@pytest.mark.slow
def test_a_chinese_rendering_lifts_the_chinese_evidence(dev_index) -> None:  # type: ignore[no-untyped-def]
    retriever = IndexHandle(dev_index).retriever()
    question = "Which Microsoft Office apps does the 2024 survey say large models have been built into?"
    rank = lambda hits: next(n for n, h in enumerate(hits, 1) if "Excel" in h.chunk.text)  # noqa: E731
    alone = retriever(question, 30)
    both = retriever(question, 30, also=["2024年调查显示，大型模型已经集成到哪些Microsoft Office应用程序中？"])
    assert rank(both) < rank(alone)
    assert max(h.dense for h in both if h.dense) >= max(h.dense for h in alone if h.dense)


@pytest.mark.slow
def test_a_scope_keeps_retrieval_inside_its_notes(dev_index) -> None:  # type: ignore[no-untyped-def]
    from rag.scope import Scope, ScopeError

    handle = IndexHandle(dev_index)
    everything = handle.retriever()
    notes = sorted(everything.index.manifest.files)
    question = "Kosmos-1 有多少参数?"
    best = everything(question, 5)[0].chunk.source
    other = next(n for n in notes if n != best)
    scoped = handle.retriever(Scope.of([other]))
    hits = scoped(question, 5)
    assert hits and {h.chunk.source for h in hits} == {other}
    assert all(h.dense is not None or h.bm25 is not None for h in hits)
    # ranks inside the scope are those of an unscoped search restricted to it
    dense_all = [i for i, _ in everything.dense(question, len(everything.index))
                 if everything.index.chunks[i].source == other]
    assert [i for i, _ in scoped.dense(question, 3)] == dense_all[:3]
    with pytest.raises(ScopeError):
        handle.retriever(Scope.of(["no-such-folder/"]))
