"""Numbers read as values: multipliers, separators, number words, names with digits, derived values."""

from __future__ import annotations

import pytest

from notesqa.quantity import derived, quantities, same, supported


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30k", 3e4),
        ("30,000", 3e4),
        ("3万", 3e4),
        ("1.3B", 1.3e9),
        ("1.3 B", 1.3e9),
        ("13亿", 1.3e9),
        ("1.6万亿", 1.6e12),
        ("2 trillion", 2e12),
        ("375 million", 3.75e8),
        ("three", 3.0),
        ("85%", 85.0),
    ],
)
def test_one_value_however_it_is_spelled(text: str, value: float) -> None:
    (q,) = quantities(text)
    assert same(q.value, value)


def test_names_and_units_are_not_multipliers() -> None:
    assert [q.text for q in quantities("GPT-3 在 1024 张 A100 上训练，Llama-2 70B")] == ["1024", "70B"]
    assert [q.value for q in quantities("10 T5 models, 5 minutes, 3 GB")] == [10.0, 5.0, 3.0]


def test_supported_and_derived() -> None:
    pool = quantities("在SQuAD上由81.8到89.4，批量320万")
    assert supported(quantities("3,200,000")[0], pool)
    assert not supported(quantities("3.2B")[0], pool)
    assert derived(quantities("7.6")[0], pool)
    assert not derived(quantities("7.5")[0], pool)
    # one-digit results and one-digit operands are too likely by chance
    assert not derived(quantities("2")[0], quantities("3 和 5"))
    assert not derived(quantities("2021")[0], quantities("1 简介 2022 年"))


def test_a_month_name_before_a_year_is_its_number() -> None:
    assert sorted(q.value for q in quantities("|Megatron-LM|NVIDIA|Sep 2019|")) == [9.0, 2019.0]
    assert [q.value for q in quantities("you may 2 ways")] == [2.0]  # a month only before a year


def test_a_value_is_supported_only_as_precisely_as_it_is_written() -> None:
    assert not supported(quantities("4.0")[0], quantities("2024年4月"))
    assert supported(quantities("4")[0], quantities("4.0 分"))
    assert supported(quantities("375 million")[0], quantities("3.75亿"))
    assert supported(quantities("1.3B")[0], quantities("13亿"))
