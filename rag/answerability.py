"""Answerability: one calibrated decision whether to show an answer, from signals computed over the question,
the passages found and the model's answer.

The signals (``Signals``) are what the earlier rules each looked at alone: how similar the best passage is,
how many of the question's names the notes found mention, whether the model's quote is really in a passage,
how many of the answer's numbers and names the passages support, how much of its wording comes from them,
and whether a number was asked for and given. A logistic model (``WEIGHTS``, ``BIAS``) turns them into the
probability that the answer shown would be right; below ``Settings.answerability_min`` the system abstains.

Before the model is asked, the same model is read with every answer signal at its best (``best_case``): when
even a perfect answer could not pass, the system abstains at once instead of spending a model turn.

The weights were fitted with ``benchmarks/fit_answerability.py`` on the answers of a run that showed every
answer (``answerability_min = 0``) over the public dev sets of both corpora and their benign dev sets; the
script also fits on one corpus and tests on the other, and prints the curve the operating point was chosen
from (docs/experiments.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

from notesqa.quantity import quantities
from notesqa.text import language, longest_run, specific_terms, squash, terms
from rag import guard


@dataclass(frozen=True)
class Signals:
    """What the decision reads, each in [0, 1] (``dense`` is a cosine)."""

    dense: float
    """The best passage's dense cosine with the question."""
    english: float
    """1 for an English question: e5 scores cross-lingual matches lower, so ``dense`` means less for it."""
    coverage: float = 1.0
    """Share of the question's specific names (GPT-4, BLEU) that the notes found mention; 1 when it has none."""
    quote: float = 1.0
    """Share of the model's quoted evidence found verbatim in a passage it was given (longest common run)."""
    grounded: float = 1.0
    """Share of the answer's numbers and names that a passage line about the question's subject supports."""
    wording: float = 1.0
    """Share of the answer's own terms (not the question's) that the passages contain. A translated answer is
    judged by its draft in the notes' language; an answer in another language than the passages scores 1
    (a translation cannot be compared term by term)."""
    number_fit: float = 1.0
    """0 when the question asks for a number and the answer has none, or the answer is only numbers and the
    question does not ask for one; else 1."""
    confidence: float = 1.0
    """How sure the model was of the words of its answer: the geometric mean of the probabilities it gave its
    answer tokens (``confidence``); 1 when none were recorded."""
    doubt: float = 0.0
    """The probability the model gives to answering ``NOT_FOUND`` when asked for the answer at once, without
    reasoning first (``rag.stages.generate``); 0 when it was not asked."""

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def vector(self) -> list[float]:
        return [float(getattr(self, n)) for n in self.names()]


WEIGHTS: dict[str, float] = {
    "dense": 2.767,
    "english": 0.319,
    "coverage": 4.171,
    "quote": -0.646,
    "grounded": 3.662,
    "wording": 3.138,
    "number_fit": 0.877,
    "confidence": 0.0,
    "doubt": -12.455,
}
"""Logistic weights per signal. All but ``doubt`` were fitted by ``benchmarks/fit_answerability.py`` on 97
single-part answers (70 right) to the dev and benign dev sets of both public corpora (build 2026-12-03;
fitted on one corpus and tested on the other, the AUC is 0.79 and 0.75). ``quote`` weighs against: with the
other signals known, a model that quotes a passage verbatim and still answers beside it is more often wrong
than right. ``doubt`` and the intercept were then fitted with the other weights held (build 2026-12-04, 135
single-part answers, 74 right, to the dev, unanswerable dev and benign dev sets of both corpora): of the
answers whose ``doubt`` exceeds 0.05, 6 were right and 28 wrong. Refitting every weight instead ranked answers
a little better but let a single-sentence answer with a number the passages do not hold through.
``confidence`` is recorded with weight 0: at the same false-refusal share it abstains on no more unanswerable
questions (docs/experiments.md, 2026-12-04)."""

BIAS = -12.296
"""The logistic model's intercept."""


def probability(signals: Signals) -> float:
    """P(the answer shown would be right) under the fitted logistic model."""
    z = BIAS + sum(WEIGHTS[name] * value for name, value in zip(Signals.names(), signals.vector(), strict=True))
    return 1.0 / (1.0 + math.exp(-z))


ANSWER_SIGNALS = ("quote", "grounded", "wording", "number_fit", "confidence", "doubt")
"""The signals that depend on what the model writes (each a share or flag in [0, 1])."""


def best_case(signals: Signals) -> Signals:
    """The signals with every answer signal at its most favourable value (1, or 0 for a signal that weighs
    against): what the question and passages alone allow."""
    return replace(signals, **{n: 1.0 if WEIGHTS[n] >= 0 else 0.0 for n in ANSWER_SIGNALS})


def before_model(question: str, lang: str, top_dense: float, notes: Sequence[str]) -> Signals:
    """The signals known before the model is asked: retrieval similarity and name coverage."""
    names = specific_terms(question)
    covered = 1.0 - len(guard.missing_terms(question, notes)) / len(names) if names else 1.0
    return Signals(dense=top_dense, english=float(lang == "en"), coverage=covered)


_QUOTED = re.compile(r"[“\"「]([^”\"」]{4,})[”\"」]")
"""A quotation in the model's reasoning (``段落[2]说：“…”``)."""


def quote_share(reasoning: str, passages: Sequence[str]) -> float:
    """Share of the reasoning's quotations (else of the whole reasoning) found verbatim in a passage."""
    quoted = _QUOTED.findall(reasoning) or [reasoning]
    total = sum(len(squash(q)) for q in quoted)
    if not total or not passages:
        return 0.0
    found = sum(max(longest_run(q, p) for p in passages) for q in quoted)
    return min(1.0, found / total)


def wording_share(question: str, answer: str, passages: Sequence[str]) -> float:
    """Share of the answer's terms beyond the question's that occur in the passages (1 when it adds none, or
    when the answer's language differs from the passages'). A term occurs when the passages hold its
    characters, spacing aside: "1.3B" is in "1.3 B 的参数", and a lone "有" between two names is in "有了"."""
    if language(answer) != language("".join(passages)):
        return 1.0
    novel = terms(answer) - terms(question)
    if not novel:
        return 1.0
    text = squash("".join(passages)).casefold()
    return sum(t in text for t in novel) / len(novel)


def number_fit(question: str, answer: str) -> float:
    """0 when a number is asked for and none is given, or only numbers are given and none was asked for."""
    asks = guard.asks_for_number(question)
    if asks and not quantities(answer):
        return 0.0
    if not asks and guard.only_numbers(answer):
        return 0.0
    return 1.0


def confidence(token_p: Sequence[float]) -> float:
    """The geometric mean of the probabilities the model gave its answer tokens (1 when there are none)."""
    if not token_p:
        return 1.0
    return math.exp(sum(math.log(max(p, 1e-9)) for p in token_p) / len(token_p))


def after_model(before: Signals, question: str, reasoning: str, answer: str, passages: Sequence[str],
                chunks: Sequence[str], grounding: guard.Grounding, token_p: Sequence[float] = (),
                doubt: float = 0.0) -> Signals:
    """All signals, once the model has written ``reasoning`` and ``answer`` from ``passages`` (the texts it
    was given, cut from ``chunks``), giving its answer tokens the probabilities ``token_p`` and ``NOT_FOUND``
    the probability ``doubt`` when asked for the answer at once."""
    checked = grounding.checked
    grounded = 1.0 - len(grounding.unsupported) / checked if checked else 1.0
    return replace(before, quote=quote_share(reasoning, passages), grounded=grounded,
                   wording=wording_share(question, answer, chunks), number_fit=number_fit(question, answer),
                   confidence=confidence(token_p), doubt=doubt)
