"""The records of one question's turn: what the answer path's stages fill in (``Turn``), what they stream
(``Event``) and what the UI, API, CLI and eval read (``Answer``, with its ``Citation`` and ``Evidence``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from rag.answerability import Signals
    from rag.context import Selected
    from rag.retrieve import Hit


class Reason(StrEnum):
    """Why an answer was declined; ``ANSWERED`` when it was not."""

    ANSWERED = ""
    GATE = "gate"
    """The best passage is far from the question, or even a fully supported answer from the passages found
    would be unlikely to be right (``decide``)."""
    NOT_FOUND = "not_found"
    """Nothing usable was selected, or the model said the passages do not answer it (``select``, ``verify``)."""
    UNGROUNDED = "ungrounded"
    """The answer, given how much of it the passages support, is unlikely to be right (``verify``)."""
    REFUSED = "refused"
    """The request is not a question about the notes, or the answer is not a statement of them (``prepare``,
    ``verify``)."""


class EventKind(StrEnum):
    """What a streamed ``Event`` carries."""

    STATUS = "status"
    """A phase change ("generating")."""
    NOTICE = "notice"
    """A note for the user about how the question is handled."""
    EVIDENCE = "evidence"
    """The quotes from the notes, before the model starts; a later one replaces an earlier one."""
    REASONING = "reasoning"
    """A delta of the model's reasoning."""
    ANSWER = "answer"
    """A delta of the model's answer."""
    REPLACE = "replace"
    """The answer so far is replaced (e.g. by its English version)."""


@dataclass(frozen=True)
class NoteText:
    """A run of a note's text: which note and chunk, where in the note, and what it says."""

    source: str
    chunk_id: str
    text: str
    start: int
    """Character offset of ``text`` in the note."""
    end: int
    title: str = ""
    headings: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()
    """``(first, last)`` lines of the note's file (1-based, inclusive); empty for notes without lines (PDF:
    the page is in ``headings``)."""

    @property
    def path(self) -> str:
        """Where in the note: its heading path, else its title."""
        return " › ".join(self.headings) or self.title

    @property
    def line_label(self) -> str:
        """``"lines 12–18"``, ``"line 12"``, or empty."""
        if not self.lines:
            return ""
        first, last = self.lines
        return f"line {first}" if first == last else f"lines {first}–{last}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples as lists."""
        return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Read back what :meth:`to_dict` wrote (missing optional keys take their defaults)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in d:
                v = d[f.name]
                values[f.name] = tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
        return cls(**values)


@dataclass(frozen=True)
class Evidence(NoteText):
    """A sentence (or two neighbouring ones) from the notes that best answers the question, verbatim: shown
    as a quote before the model's answer."""


@dataclass(frozen=True, kw_only=True)
class Citation(NoteText):
    """A passage the answer was taken from: the whole chunk as ``text``, numbered as in the answer's ``[n]``
    markers."""

    n: int
    spans: tuple[tuple[int, int], ...] = ()
    """The note's character ranges of the sentences given to the model."""


@dataclass
class Answer:
    """The result of one question, as shown in the UI and written by eval."""

    question: str
    answer: str
    reasoning: str = ""
    abstained: bool = False
    reason: Reason = Reason.ANSWERED
    """Why the system declined (``Reason.ANSWERED`` when it answered)."""
    lang: str = "zh"
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    """The (trimmed) passages the model was given, numbered as in the prompt."""
    timings: dict[str, float | None] = field(default_factory=dict)
    standalone_question: str = ""
    search_queries: list[str] = field(default_factory=list)
    """What retrieval searched with: the standalone question (plus a Chinese rendering of an English one when
    ``translate_questions`` is on)."""
    model: str = ""
    raw_answer: str = ""
    """The model's answer before the grounding check (kept for inspection)."""
    usage: dict[str, int] = field(default_factory=dict)
    """Prompt and generated token counts of the model call."""
    token_p: list[float] = field(default_factory=list)
    """The probability the model gave each token of its answer (before any translation), in order."""
    doubt: float = 0.0
    """The probability the model gave to answering ``NOT_FOUND`` at once, without reasoning
    (``rag.stages.generate``); an answerability signal."""
    notice: str = ""
    """A note for the user about how the question was handled (e.g. answered in English)."""
    intent: str = ""
    """What the request was read as (``rag.intent.Intent``); "" when a first filter declined it before."""
    evidence: list[Evidence] = field(default_factory=list)
    """The quotes from the notes shown before the model's answer."""
    answerability: dict[str, Any] = field(default_factory=dict)
    """The answerability decision (``rag.answerability``): its ``stage``, probability ``p`` and ``signals``;
    for a several-part question, each part's under ``parts``."""
    scope: dict[str, list[str]] = field(default_factory=dict)
    """The folders/patterns (``in``) and ``tags`` the question was restricted to (``rag.scope.Scope``); empty:
    every note."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["citations"] = [c.to_dict() for c in self.citations]
        d["evidence"] = [e.to_dict() for e in self.evidence]
        return d

    def finish(self, t0: float, text: str, reason: Reason, reasoning: str = "") -> Answer:
        """Set the final text and why it was declined (if it was), and the total time since ``t0``."""
        self.answer = text
        self.reason = reason
        self.abstained = reason != Reason.ANSWERED
        self.reasoning = reasoning
        self.timings["total"] = time.perf_counter() - t0
        for key in ("retrieve", "generate", "first_evidence", "first_token", "first_answer_token"):
            self.timings.setdefault(key, None)
        return self


@dataclass(frozen=True)
class Event:
    """A streamed piece of an answer (see ``EventKind``)."""

    kind: EventKind
    text: str
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def quoting(cls, evidence: tuple[Evidence, ...]) -> Event:
        """The evidence event: the quotes, one per line as its text."""
        return cls(EventKind.EVIDENCE, "\n".join(e.text for e in evidence), evidence=evidence)


@dataclass
class Turn:
    """The working record of answering one question (or one part of a several-part question): each stage
    reads what the stages before it wrote and adds its own; ``result`` is what is finally shown."""

    result: Answer
    t0: float
    """When the question arrived (``time.perf_counter()``); every timing is measured from it."""
    query: str
    """The question as searched and answered: standalone (follow-ups resolved) or one part of it."""
    search: str = ""
    """What to search with when it differs from ``query`` (a part that borrowed its subject)."""
    hits: list[Hit] = field(default_factory=list)
    renderings: list[str] = field(default_factory=list)
    """The question and its Chinese rendering (English questions), as the passages are selected with."""
    shown: tuple[Evidence, ...] = ()
    """The evidence shown so far."""
    selected: list[Selected] = field(default_factory=list)
    """The passages given to the model, with the sentences kept from each."""
    reasoning: str = ""
    raw: str = ""
    """The model's answer as written."""
    draft: str = ""
    """The model's answer before it was translated into the question's language ("" when it was not)."""
    signals: Signals | None = None
    """What the answerability decision read before the model (``decide``)."""

    @property
    def lang(self) -> str:
        return self.result.lang

    def stop(self, reason: Reason, why: str, text: str | None = None) -> Answer:
        """Finish the turn without an answer: the fixed phrase of ``reason`` (or ``text``); ``why`` becomes
        the shown reasoning."""
        from rag import prompts

        phrase = text if text is not None else prompts.ABSTAIN[self.lang]
        return self.result.finish(self.t0, phrase, reason, reasoning=why.strip())
