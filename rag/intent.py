"""What a request asks for, decided before retrieval: a question about the notes, or something else.

One general decision, not a list of phrases: a classifier (``rag.classifier``: the bundled e5 model's query
embedding and the request's character n-grams, logistic regression) fitted on labelled requests in both
languages (``intent_examples.jsonl`` beside this module: questions about notes of every kind, including ones that only
*mention* sensitive subjects, and requests to write or do something else, harmful requests, attempts to
change or reveal the rules, requests to dump the notes, small talk). Only a request whose probability of
being a question reaches ``QUESTION_MIN_PROB`` goes on to retrieval; the others get a short decline that
says what the assistant can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rag.classifier import ExampleClassifier, Fitted

EXAMPLES = Path(__file__).with_name("intent_examples.jsonl")
"""The labelled requests the decision is fitted on (``{"text", "label"}`` per line)."""


class Intent(StrEnum):
    """What a request asks for."""

    QUESTION = "question"
    """Information that notes could hold (answered from the notes)."""
    PRODUCE = "produce"
    """Write or do something else: a letter, code, a story, a translation, a plan, a joke."""
    HARMFUL = "harmful"
    """Content that could cause harm: weapons, drugs, fraud, malware, forgery, misinformation, self-harm."""
    RULES = "rules"
    """Change or reveal the assistant's rules: prompt extraction, overrides, role-play, 'developer mode'."""
    DUMP = "dump"
    """Output the notes or the index wholesale or verbatim."""
    CHITCHAT = "chitchat"
    """Greetings, small talk, questions about the assistant or the world with no notes angle."""


QUESTION_MIN_PROB = 0.3
"""Least probability of ``question`` for a request to go on to retrieval. A false refusal here is final while
a request let through still meets the retrieval gate and the checks on the written answer, so the point is
chosen for few false refusals: pooled over the dev sets (both public dev sets, red-team and benign dev; 65
requests to decline, 125 questions), 0.3 declined 0.954 with 0.008 false refusals, 0.4 declined the same
with 0.048 (``benchmarks/calibrate_intent.py`` prints the curve per set; held-out parts only at this point)."""


@dataclass(frozen=True)
class Decision:
    """The decision about one request."""

    intent: Intent
    """The most probable intent, or ``question`` when its probability reaches ``QUESTION_MIN_PROB``."""
    p_question: float
    """Probability that the request is a question about the notes."""
    probabilities: dict[str, float]

    @property
    def answer(self) -> bool:
        """Whether the request goes on to retrieval."""
        return self.intent is Intent.QUESTION

    def why(self) -> str:
        """One line for the shown reasoning."""
        top = max(self.probabilities.items(), key=lambda kv: kv[1])
        return f"Request read as “{top[0]}” ({top[1]:.0%}); question {self.p_question:.0%}."


class IntentClassifier:
    """Callable ``classifier(text) -> Decision``: the examples classifier read at ``QUESTION_MIN_PROB``."""

    def __init__(self, embeddings: Any, cache_dir: Path | None = None, examples: Path = EXAMPLES,
                 min_prob: float = QUESTION_MIN_PROB):
        self.classifier = ExampleClassifier(embeddings, examples, {i.value for i in Intent}, cache_dir)
        self.min_prob = min_prob

    def fitted(self) -> Fitted:
        return self.classifier.fitted()

    def __call__(self, text: str) -> Decision:
        probs = self.classifier(text)
        p_q = probs.get(Intent.QUESTION.value, 0.0)
        if p_q >= self.min_prob:
            return Decision(Intent.QUESTION, p_q, probs)
        others = {c: v for c, v in probs.items() if c != Intent.QUESTION.value}
        return Decision(Intent(max(others, key=others.__getitem__)), p_q, probs)
