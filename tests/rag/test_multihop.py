"""Multi-hop parts: a later part of a question that asks about an earlier part's answer."""

from __future__ import annotations

from rag.context import select_context
from rag.multihop import follow, hop
from rag.retrieve import Hit
from tests.rag.test_context import BigramEmbeddings, hit, texts

NOTE = (
    "它和Instruct又是什么关系?\n为什么它是一项很神秘的技术?\n第二次转换是走向通用人工智能。\n"
    "ChatGPT是这次转换的关键节点。"
)
RELEASE = "就公众而言,大模型最直接的例子是新闻报道。\n随后OpenAI于2022年11月发布了ChatGPT。"
QUESTION = "第二次转换的关键节点是什么?它是什么时候发布的?"


def search(query: str, k: int) -> list[Hit]:
    """A stand-in for the hybrid retriever: the release note is found only by a search that names ChatGPT."""
    found = [hit(RELEASE, 1, "release"), hit(NOTE, 0)] if "ChatGPT" in query else [hit(NOTE, 0)]
    return found[:k]


def test_only_a_part_about_the_earlier_answer_is_a_hop() -> None:
    hits = search(QUESTION, 5)
    assert (
        hop(["第二次转换的关键节点是什么?", "它是什么时候发布的?"], 1, hits, BigramEmbeddings())
        == "ChatGPT 是什么时候发布的?"
    )  # type: ignore[arg-type]
    # the pronoun stands for a name the earlier part already searched for
    assert hop(["T5 属于什么结构?", "表里怎么评价它?"], 1, hits, BigramEmbeddings()) is None  # type: ignore[arg-type]
    # no pronoun ("其他" is not one)
    assert hop(["关键节点是什么?", "其他节点有哪些?"], 1, hits, BigramEmbeddings()) is None  # type: ignore[arg-type]


def test_the_second_hop_reaches_the_prompt() -> None:
    hits = search(QUESTION, 5)
    pool, hops = follow(QUESTION, hits, search, BigramEmbeddings(), 5)  # type: ignore[arg-type]
    assert [h.chunk.id for h in pool] == ["c0", "c1"] and hops == [("ChatGPT 是什么时候发布的?", pool[1])]
    with_hop = texts(select_context(QUESTION, pool, BigramEmbeddings(), len(pool), 120, hops=hops))  # type: ignore[arg-type]
    without = texts(select_context(QUESTION, pool, BigramEmbeddings(), len(pool), 120))  # type: ignore[arg-type]
    assert "2022年11月" in with_hop and "关键节点" in with_hop
    assert "2022年11月" not in without
