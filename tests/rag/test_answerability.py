"""``rag.answerability``: the signals, and the calibrated decision read from them."""

from __future__ import annotations

from notesqa.settings import Settings
from rag import answerability as a
from rag.guard import Grounding

MINIMUM = Settings.model_fields["answerability_min"].default


def test_the_signals_before_the_model_are_similarity_and_name_coverage() -> None:
    notes = ["Kosmos-1 是一个多模态大模型，有 1.3B 参数。"]
    s = a.before_model("Kosmos-1 和 Flamingo-9 有多少参数?", "zh", 0.9, notes)
    assert (s.dense, s.english, s.coverage) == (0.9, 0.0, 0.5)
    assert a.before_model("这个模型有多少参数?", "en", 0.8, notes).coverage == 1.0  # no names asked: nothing missing
    assert a.before_model("LLMs 的参数", "en", 0.8, ["LLM 的参数"]).coverage == 1.0  # a plural is the name


def test_a_quote_is_measured_by_how_much_of_it_the_passages_hold_verbatim() -> None:
    passage = ["香农首先在1948年使用n-gram模型作为q，但在他1951年的论文中引入了香农游戏。"]
    assert a.quote_share("段落[1]说：“香农首先在1948年使用n-gram模型作为q”", passage) == 1.0
    made_up = a.quote_share("段落[1]说：“香农在1960年发明了晶体管和计算机”", passage)
    assert made_up < 0.5
    assert a.quote_share("anything", []) == 0.0


def test_wording_is_judged_only_within_one_language() -> None:
    notes = ["今天分享一篇知乎高赞文章，作者是张俊林老师。"]
    assert a.wording_share("这篇文章的作者是谁?", "作者是张俊林老师。", notes) == 1.0
    assert a.wording_share("今天天气怎么样?", "今天天气晴天，适合出门散步。", notes) < 0.2
    english = ["The team offsite is in Hangzhou on May 12, and Alice books the hotel."]
    assert a.wording_share("团队外出活动在哪里?", "团队外出活动在杭州。", english) == 1.0  # a translation


def test_a_number_asked_for_must_be_given_and_a_bare_number_must_be_asked_for() -> None:
    assert a.number_fit("它有多少参数?", "1.3B 参数") == 1.0
    assert a.number_fit("它有多少参数?", "参数很多") == 0.0
    assert a.number_fit("LamDA 的定位是什么?", "2B, 8B, 137B") == 0.0
    assert a.number_fit("Which models are free?", "LLaMA and Code Llama") == 1.0


def test_unsupported_facts_lower_the_probability_and_the_best_case_bounds_it() -> None:
    before = a.before_model("Kosmos-1 有多少参数?", "zh", 0.9, ["Kosmos-1 有 1.3B 参数。"])
    passages = ["Kosmos-1 的数据和模型规模：1.3 B 的参数。"]
    good = a.after_model(before, "Kosmos-1 有多少参数?", "段落[1]说：“Kosmos-1 的数据和模型规模：1.3 B 的参数。”",
                         "Kosmos-1 有 1.3B 参数。", passages, passages, Grounding(True, (), (0,), 1))
    bad = a.after_model(before, "Kosmos-1 有多少参数?", "段落[1]说：“Kosmos-1 是谷歌在2030年发布的模型”",
                        "Kosmos-1 有 7B 参数。", passages, passages, Grounding(False, ("7B",), (), 1))
    assert good.grounded == 1.0 and bad.grounded == 0.0
    p_good, p_bad, p_best = a.probability(good), a.probability(bad), a.probability(a.best_case(before))
    assert p_bad < p_good <= p_best
    assert p_good >= MINIMUM > p_bad  # the shipped operating point tells these two apart


def test_a_question_whose_names_the_notes_lack_cannot_pass_even_with_a_perfect_answer() -> None:
    covered = a.before_model("Kosmos-1 有多少参数?", "zh", 0.88, ["Kosmos-1 有 1.3B 参数。"])
    missing = a.before_model("Flamingo-9 有多少参数?", "zh", 0.88, ["Kosmos-1 有 1.3B 参数。"])
    assert a.probability(a.best_case(covered)) >= MINIMUM > a.probability(a.best_case(missing))
    assert a.probability(a.best_case(covered)) >= a.probability(a.replace(covered, quote=1.0))


def test_confidence_is_the_geometric_mean_of_the_answer_token_probabilities() -> None:
    assert a.confidence([]) == 1.0
    assert abs(a.confidence([0.9, 0.9]) - 0.9) < 1e-9
    assert abs(a.confidence([1.0, 0.25]) - 0.5) < 1e-9  # one unsure token weighs more than in a mean


def test_a_model_that_would_rather_say_not_found_sinks_an_answer_that_otherwise_passes() -> None:
    before = a.before_model("Kosmos-1 有多少参数?", "zh", 0.9, ["Kosmos-1 有 1.3B 参数。"])
    passages = ["Kosmos-1 的数据和模型规模：1.3 B 的参数。"]
    answer = a.after_model(before, "Kosmos-1 有多少参数?", "段落[1]说：“Kosmos-1 的数据和模型规模：1.3 B 的参数。”",
                           "Kosmos-1 有 1.3B 参数。", passages, passages, Grounding(True, (), (0,), 1), doubt=0.001)
    assert answer.doubt == 0.001 and a.probability(answer) >= MINIMUM
    assert a.probability(a.replace(answer, doubt=0.5)) < MINIMUM
    assert a.best_case(a.replace(answer, doubt=0.5)).doubt == 0.0  # before the model: no doubt assumed
