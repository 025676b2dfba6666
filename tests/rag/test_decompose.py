"""Several-part questions split into questions that stand alone; single questions and hops are left whole."""

from __future__ import annotations

from rag.decompose import Part, decompose


def questions(text: str) -> list[str]:
    return [p.question for p in decompose(text)]


def test_several_questions_borrow_the_subject_they_leave_out() -> None:
    assert questions("Qwen-2 用了多少数据训练？上下文窗口有多长？") == [
        "Qwen-2 用了多少数据训练？", "Qwen-2 上下文窗口有多长？"]
    assert questions("What optimizer does BERT use? How big is its vocabulary?") == [
        "What optimizer does BERT use?", "How big is BERT's vocabulary?"]


def test_a_part_that_leans_on_the_one_before_searches_with_it() -> None:
    assert decompose("检索增强里，BM25 属于哪类方法？表格里怎么评价它？") == [
        Part("检索增强里，BM25 属于哪类方法？", "检索增强里，BM25 属于哪类方法？"),
        Part("表格里怎么评价BM25？", "检索增强里，BM25 属于哪类方法？ 表格里怎么评价BM25？")]


def test_a_question_asked_of_two_things_in_turn() -> None:
    assert questions("ALBERT 和 DistilBERT 这两个模型分别有多少参数？") == [
        "ALBERT模型有多少参数？", "DistilBERT模型有多少参数？"]
    assert questions("编码器和解码器分别负责什么？") == ["编码器负责什么？", "解码器负责什么？"]
    assert questions("How many layers do Gopher and Chinchilla have respectively?") == [
        "How many layers do Gopher have?", "How many layers do Chinchilla have?"]
    # a plural pronoun in a later part stands for the pair named before it
    assert questions("检索器和生成器有什么关系？它们各自做什么？") == [
        "检索器和生成器有什么关系？", "检索器做什么？", "生成器做什么？"]


def test_single_questions_and_questions_about_an_earlier_answer_stay_whole() -> None:
    assert questions("两个人名互换后准确率是多少？") == []
    assert questions("编码器和解码器有什么区别？") == []
    assert questions("大模型和小模型在各种任务上表现如何？") == []  # "各种" is "various", not "each"
    # "它" stands for the answer of the first part, which is not known before it is answered
    assert questions("最早提出注意力机制的论文是哪篇？它是哪一年发表的？") == []
