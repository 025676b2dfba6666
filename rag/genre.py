"""Checks on what the model wrote, beyond its facts: is the answer a statement of what the notes say?

A question about the notes is answered with a statement (“Kosmos-1 有 1.3B 参数。”). A small model that was
steered into writing something else writes a letter, an e-mail, a post, step-by-step instructions, a
persuasive text, a story or code. That genre is read by the same kind of classifier as the request
(``rag.classifier``), fitted on labelled examples in both languages (``genre_examples.jsonl``: statements of
facts from notes, including facts about sensitive subjects, beside composed texts on the same subjects).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.classifier import ExampleClassifier, Fitted

EXAMPLES = Path(__file__).with_name("genre_examples.jsonl")
"""Labelled answers: ``statement`` or ``composed``."""

COMPOSED_MIN_PROB = 0.7
"""Least probability of ``composed`` for a written answer to be refused. A refusal of a good answer is the
costlier error (a composed text must also pass the request decision and the retrieval gate to get here), so
the point is high: in 5-fold cross-validation on the examples it catches 0.74 of the composed texts and
refuses no statement (0.5: 0.96 and 0.02), and no answer of the build before this check on either public
dev set scored above 0.59 (``benchmarks/calibrate_genre.py``)."""


@dataclass(frozen=True)
class Genre:
    """What a written answer reads as."""

    p_composed: float
    composed: bool

    def why(self) -> str:
        return (f"The answer reads as a composed text (letter, message, instructions, story or code; "
                f"{self.p_composed:.0%}), not as a statement of what the notes say.")


class GenreCheck:
    """Callable ``check(answer) -> Genre``."""

    def __init__(self, embeddings: Any, cache_dir: Path | None = None, examples: Path = EXAMPLES,
                 min_prob: float = COMPOSED_MIN_PROB):
        self.classifier = ExampleClassifier(embeddings, examples, {"statement", "composed"}, cache_dir)
        self.min_prob = min_prob

    def fitted(self) -> Fitted:
        return self.classifier.fitted()

    def __call__(self, answer: str) -> Genre:
        p = self.classifier(answer).get("composed", 0.0)
        return Genre(p, p >= self.min_prob)
