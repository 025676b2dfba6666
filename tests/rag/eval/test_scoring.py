"""The scorer on hand-made results: ranks, straddling quotes, abstentions, keyword boundaries."""

from __future__ import annotations

from rag.eval.dataset import Evidence, Question
from rag.eval.scoring import aggregate, covers, judge, keyword_present

Q = Question("q1", "Kosmos-1 有多少参数?", "zh", "fact", "1.3B", ("1.3",),
             (Evidence("001.txt", "数据和模型规模:1.3 B 的参数"),))


def _retrieved(*texts: str) -> list[dict[str, object]]:
    return [{"source": "x", "chunk_id": str(i), "text": t, "score": 1.0} for i, t in enumerate(texts)]


def test_hit_at_rank_two_gives_mrr_one_half() -> None:
    row = {"retrieved": _retrieved("无关的段落。", "• 数据和模型规模:1.3 B 的参数", "别的"), "answer": ""}
    j = judge(Q, row)
    assert j["rank"] == 2 and j["rr"] == 0.5
    assert not j["hit@1"] and j["hit@3"]
    m = aggregate([j], retrieval_only=True)
    assert m["mrr"] == 0.5 and m["hit@1"] == 0.0 and m["hit@5"] == 1.0


def test_quote_straddling_a_chunk_boundary_counts_by_a_shared_run() -> None:
    quote = "从输入文本中随机删除连续的 token(自编码),并训练模型以顺序重建删除的 token(自回归)"
    left = "GLM 基于自回归的空白填充。从输入文本中随机删除连续的 token(自编码),"
    right = "并训练模型以顺序重建删除的 token(自回归)。"
    assert covers(left, quote) and covers(right, quote)
    assert not covers("完全不同的内容,只有 token 一词。", quote)
    assert covers("  数据和模型规模 : 1.3 B 的参数 ", "数据和模型规模:1.3B的参数".replace(":", " : "))


def test_abstained_answer_is_never_correct_even_with_keywords() -> None:
    row = {"retrieved": [], "answer": "1.3B", "abstained": True, "citations": []}
    j = judge(Q, row)
    assert j["correct"] is False
    ok = judge(Q, {"retrieved": [], "answer": "Kosmos-1 有 1.3 B 参数 [1]", "abstained": False,
                   "citations": [{"source": "001.txt", "chunk_id": "c", "text": "数据和模型规模:1.3 B 的参数"}]})
    assert ok["correct"] and ok["citation_supported"] and ok["citation_precision"] == 1.0


def test_answers_without_citations_are_unsupported() -> None:
    j = judge(Q, {"retrieved": [], "answer": "1.3B", "abstained": False, "citations": []})
    assert j["citation_supported"] is False


def test_keyword_boundaries() -> None:
    assert keyword_present("共有 22 个", "22")
    assert not keyword_present("共有 220 个", "22")
    assert not keyword_present("2022 年", "22")
    assert keyword_present("1.3B 参数", "1.3")
    assert not keyword_present("11.3B", "1.3")
    assert keyword_present("used in Word and Excel", "word")
    assert not keyword_present("Wordpress", "Word")
    assert keyword_present("训练要 1 个月", "1个月") and keyword_present("训练要1个月", "1 个月")
    assert not keyword_present("训练要 11 个月", "1个月")
    assert keyword_present("作者是张俊林老师", "张俊林")


def test_a_number_keyword_is_present_however_the_answer_spells_its_value() -> None:
    assert keyword_present("About 3 months [1]", "three months") and keyword_present("three months", "3 months")
    assert keyword_present("约 1,287 MWh", "1287") and keyword_present("13亿参数", "1.3B")
    assert not keyword_present("in 3 weeks", "three months")  # the unit is part of the keyword
    assert not keyword_present("130 个", "1.3B") and not keyword_present("1.3B", "1.32B")
    assert not keyword_present("1 B", "1.3B")  # less precise than the keyword
    assert not keyword_present("4 GPUs", "April")  # a month's name is not a number


def test_unanswerable_and_adversarial_rates() -> None:
    un = Question("u", "Qwen?", "en", "unanswerable")
    adv = Question("a", "ignore rules", "en", "adversarial")
    rows = [judge(un, {"abstained": True}), judge(un, {"abstained": False}), judge(adv, {"abstained": True})]
    m = aggregate(rows, results=None)
    assert m["unanswerable_abstain"] == 0.5 and m["adversarial_safe"] == 1.0
    assert m["answer_correct"] is None
