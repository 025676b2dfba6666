"""Numbers read as values, so a fact is compared by what it says and not by how it is spelled.

"30k", "30,000" and "3万" are one value; "1.3B", "13亿" and "1.3 billion" another; "three months" says 3.
Grounding (``rag.guard.check_grounding``) compares an answer's numbers with the passages' through here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import combinations

SCALE = {
    "k": 1e3,
    "thousand": 1e3,
    "千": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "百万": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "trillion": 1e12,
    "万": 1e4,
    "亿": 1e8,
    "万亿": 1e12,
}
"""Multipliers written after a number (case-insensitive for the Latin ones). Units that are not multipliers
("GB", "%", "倍", "个") leave the value as written."""

WORDS = {
    w: float(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
"""English number words up to twenty ("three months", "two parts"); larger values are written in digits."""

MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
"""English month names before a year ("Sep 2019") are the month's number: "2019年9月" says the same."""
_MONTH = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)[a-z]*\.?,?\s+(?=\d{4}\b)")

_SCALES = "|".join(sorted((re.escape(k) for k in SCALE), key=len, reverse=True))
_QUANTITY = re.compile(
    rf"(?<![A-Za-z0-9.])(\d+(?:,\d{{3}})+(?!\d)|\d+(?:\.\d+)?)(?:\s?({_SCALES})(?![A-Za-z0-9]))?"
    rf"|\b({'|'.join(WORDS)})\b(?:\s({_SCALES})\b)?",
    re.IGNORECASE,
)
"""A number in digits (with thousands separators or a decimal part), or a number word, and its multiplier.
The multiplier counts only when no letter follows it ("1.3B" yes, "7Bn" no, "3 GB" is 3): a Latin word that
merely starts with k, m, b or t is not a multiplier."""


_NAME_DASH = {f"{c}-" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


@dataclass(frozen=True)
class Quantity:
    """One number as written and as a value."""

    text: str
    value: float
    digits: int
    """Significant digits as written ("7.6" has 2, "2019" has 4): how surprising a match by chance is."""
    decimals: int
    """Digits after the point as written, for comparing derived values at the precision written."""
    step: float = 1.0
    """The precision written, in the value's units: 1 for "4", 0.1 for "4.0", 10⁵ for "3,200,000", 10⁸ for
    "13亿", 10⁸ for "1.3 B"."""


def quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its value; digits inside a Latin name ("GPT-3", "A100", "T5") are part
    of the name, not a quantity, and are skipped."""
    out = []
    for m in _QUANTITY.finditer(text):
        if m.group(1):
            raw, scale = m.group(1), m.group(2)
            if text[max(0, m.start() - 2) : m.start()] in _NAME_DASH:
                continue  # "GPT-3", "Llama-2": part of a name
            number = raw.replace(",", "")
            value = float(number)
            decimals = len(number.split(".")[1]) if "." in number else 0
            digits = (
                len(
                    number.replace(".", "").lstrip("0").rstrip("0")
                    if decimals == 0
                    else number.replace(".", "").lstrip("0")
                )
                or 1
            )
            # an integer's trailing zeros claim no precision ("3,200,000" is as precise as "320万")
            step = 10.0**-decimals if decimals else 10.0 ** (len(number) - len(number.rstrip("0")))
        else:
            raw, scale = m.group(3), m.group(4)
            value, decimals, digits, step = WORDS[raw.lower()], 0, 1, 1.0
        if scale:
            value *= SCALE[scale.lower()]
            step *= SCALE[scale.lower()]
        out.append(Quantity(m.group(0).strip(), value, digits, decimals, step))
    out += [Quantity(m.group(1), float(MONTHS[m.group(1)[:3].lower()]), 1, 0) for m in _MONTH.finditer(text)]
    return out


def same(a: float, b: float) -> bool:
    """Equal values, up to float rounding."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


DERIVED_MIN_DIGITS = 2
"""Least significant digits for a number to count as worked out from two others, and for each of the two
(a difference, a sum or a ratio of two numbers in one passage: "81.8 to 89.4" supports "7.6 points").
Among the ~10 numbers of a passage, some pair differs or divides to a one-digit number by chance, and a
one-digit operand turns any year into its neighbour (2022 - 1); two-digit results and operands seldom do."""


def derived(q: Quantity, pool: list[Quantity]) -> bool:
    """Whether ``q`` is the difference, sum or ratio of two numbers in ``pool``, at ``q``'s precision."""
    if q.digits < DERIVED_MIN_DIGITS:
        return False
    step = 10.0**-q.decimals
    for a, b in combinations({x.value for x in pool if x.digits >= DERIVED_MIN_DIGITS}, 2):
        candidates = [abs(a - b), a + b]
        if a and b:
            candidates += [max(a, b) / min(a, b)]
        if any(abs(c - q.value) <= step / 2 + 1e-9 for c in candidates):
            return True
    return False


def supported(q: Quantity, pool: list[Quantity]) -> bool:
    """Whether ``pool`` (the numbers of a passage line or passage) holds ``q``'s value, however spelled, at
    least as precisely as ``q`` states it ("4" in "2024年4月" does not support "4.0"; "3.75亿" supports
    "375 million")."""
    return any(same(q.value, x.value) and x.step <= q.step * (1 + 1e-9) for x in pool)
