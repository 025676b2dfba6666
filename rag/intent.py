"""What a request asks for, decided before retrieval: a question about the notes, or something else.

One general decision, not a list of phrases: a multinomial logistic regression over the bundled e5 model's
query embedding and the character n-grams of the request, trained on labelled requests in both languages
(``intent_examples.jsonl`` beside this module: questions about notes of every kind, including ones that only
*mention* sensitive subjects, and requests to write or do something else, harmful requests, attempts to
change or reveal the rules, requests to dump the notes, small talk). Only a request whose probability of
being a question reaches ``QUESTION_MIN_PROB`` goes on to retrieval; the others get a short decline that
says what the assistant can do.

The model is fitted once per embedding model and examples file and kept in the cache directory (~1 MB);
fitting takes the time of embedding the examples (~5-10 s on 2 cores), paid at warm-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

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

REGULARISATION = 4.0
"""Inverse regularisation strength ``C`` of the logistic regression (chosen by 5-fold cross-validation on
the examples; see ``benchmarks/calibrate_intent.py``)."""


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


def load_examples(path: Path = EXAMPLES) -> tuple[list[str], list[str]]:
    """Texts and labels of the examples file; an unknown label is an error naming its line."""
    texts, labels = [], []
    known = {i.value for i in Intent}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["label"] not in known:
            raise ValueError(f"{path}:{n}: unknown intent {row['label']!r} (one of {sorted(known)})")
        texts.append(str(row["text"]))
        labels.append(str(row["label"]))
    return texts, labels


LEXICAL_WEIGHT = 1.0
"""Weight of the character n-gram TF-IDF features beside the e5 embedding. The embedding carries the topic
and most of the form; the n-grams carry the words that make a request an order ("写一封", "draft", "扮演").
Pooled over the dev sets (both public dev sets, red-team and benign dev), at ``QUESTION_MIN_PROB``: e5 alone
declined 0.938 of the adversarial requests with 0.048 false refusals; with the n-grams 0.954 and 0.008."""


@dataclass
class Fitted:
    """The fitted decision: the n-gram vocabulary and the logistic regression over [embedding, n-grams]."""

    vectorizer: Any
    model: Any

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        return self.model.predict_proba(features(np.atleast_2d(vectors), texts, self.vectorizer))


def features(vectors: np.ndarray, texts: list[str], vectorizer: Any) -> Any:
    """The e5 embeddings beside the weighted character n-gram TF-IDF of the same texts."""
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(vectors), vectorizer.transform(texts) * LEXICAL_WEIGHT]).tocsr()


def fit(vectors: np.ndarray, texts: list[str], labels: list[str], c: float = REGULARISATION) -> Fitted:
    """A multinomial logistic regression over embeddings and n-grams, classes weighted to balance."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("The request classifier needs scikit-learn; run `make setup`.") from exc
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True).fit(texts)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    model.fit(features(vectors, texts, vectorizer), labels)
    return Fitted(vectorizer, model)


class IntentClassifier:
    """Callable ``classifier(text) -> Decision`` over an embeddings object with ``embed_queries``."""

    def __init__(self, embeddings: Any, cache_dir: Path | None = None, examples: Path = EXAMPLES,
                 min_prob: float = QUESTION_MIN_PROB):
        self.embeddings = embeddings
        self.cache_dir = cache_dir
        self.examples = examples
        self.min_prob = min_prob
        self._fitted: Fitted | None = None
        self._lock = threading.Lock()

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(self.examples.read_bytes())
        digest.update(repr((getattr(self.embeddings, "folder", ""), getattr(self.embeddings, "backend", ""),
                            REGULARISATION, LEXICAL_WEIGHT)).encode())
        return Path(self.cache_dir) / "intent" / f"{digest.hexdigest()[:16]}.pkl"

    def fitted(self) -> Fitted:
        """The fitted decision: read from the cache, else fitted and cached."""
        with self._lock:
            if self._fitted is None:
                self._fitted = self._load_or_fit()
            return self._fitted

    def _load_or_fit(self) -> Fitted:
        cached = self._cache_file()
        if cached is not None and cached.is_file():
            try:
                with open(cached, "rb") as fh:
                    return pickle.load(fh)
            except Exception as exc:  # written by another scikit-learn version, or cut short: fit again
                log.warning("refitting the request classifier (%s: %s)", cached, exc)
        texts, labels = load_examples(self.examples)
        vectors = np.asarray(self.embeddings.embed_queries(texts), dtype=np.float32)
        out = fit(vectors, texts, labels)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(out, fh)
            tmp.replace(cached)
        return out

    def decide(self, vector: np.ndarray, text: str) -> Decision:
        fitted = self.fitted()
        probs = {c: float(v) for c, v in zip(fitted.classes, fitted.probabilities(vector, [text])[0], strict=True)}
        p_q = probs.get(Intent.QUESTION.value, 0.0)
        if p_q >= self.min_prob:
            return Decision(Intent.QUESTION, p_q, probs)
        others = {c: v for c, v in probs.items() if c != Intent.QUESTION.value}
        return Decision(Intent(max(others, key=others.__getitem__)), p_q, probs)

    def __call__(self, text: str) -> Decision:
        return self.decide(np.asarray(self.embeddings.embed_queries([text]), dtype=np.float32), text)
