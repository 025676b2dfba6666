"""A stand-in for ``ui.backend.Backend``: canned answers instead of the models, so the API handlers and the UI's
conversation handling are tested in seconds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from notesqa.settings import Settings
from rag.scope import Scope
from rag.turn import Answer, Citation, Event, EventKind, Evidence, Reason

MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
QUOTE = Evidence("001_kosmos.txt", "c7", "数据和模型规模:1.3 B 的参数", 91, 108, "Kosmos", ("多模态", "Kosmos-1"))
CITE = Citation("001_kosmos.txt", "c7", "…数据和模型规模:1.3 B 的参数…", 90, 109, "Kosmos", ("多模态", "Kosmos-1"), n=1,
                spans=((91, 108),))
"""A citation consistent with ``NOTE``: ``NOTE[start:end] == text``, and its span is ``QUOTE``."""
NOTE = "x" * 90 + CITE.text + "y" * 30


def answered(question: str = "Kosmos-1 有多少参数?") -> list[Event | Answer]:
    """What ``Answerer.stream`` yields for an answered question (a draft that the check then rewrote)."""
    final = Answer(question=question, answer="Kosmos-1 有 1.3B 参数。 [1]", reasoning="段落[1]说：1.3 B",
                   citations=[CITE], evidence=[QUOTE], usage={"prompt_tokens": 300, "completion_tokens": 20},
                   model="fake.gguf")
    return [Event.quoting((QUOTE,)), Event(EventKind.STATUS, "generating"),
            Event(EventKind.REASONING, "段落[1]说："), Event(EventKind.REASONING, "1.3 B"),
            Event(EventKind.ANSWER, "DRAFT 根据段落，"), Event(EventKind.ANSWER, "1.3B"), final]


def abstained(question: str = "q") -> list[Event | Answer]:
    return [Answer(question=question, answer="笔记里没有找到这个问题的答案。", abstained=True, reason=Reason.GATE,
                   reasoning="Best passage similarity 0.700 < 0.82.")]


class FakeIndex:
    """``Index.note_text`` over a dict."""

    def __init__(self, notes: dict[str, str]):
        self.notes = notes

    def note_text(self, source: str) -> str:
        if source not in self.notes:
            raise ValueError(source)
        return self.notes[source]

    def link(self, source: str) -> str:
        return ""

    def tags_by_note(self) -> dict[str, list[str]]:
        return {source: [] for source in self.notes}


class FakeHandle:
    def __init__(self, notes: dict[str, str]):
        self.index = FakeIndex(notes)

    def get(self) -> FakeIndex:
        return self.index


class FakeService:
    """Canned answerer events per question (``answered`` by default), recorded calls; the API's ``Service`` and
    enough of ``Backend`` for the UI."""

    def __init__(self, items: Sequence[Event | Answer] = (), error: Exception | None = None,
                 error_after: int | None = None, settings: Settings | None = None):
        self.settings = settings or Settings(top_k=3, max_question_chars=50)
        self.items, self.error, self.error_after = list(items), error, error_after
        self.calls: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.scopes: list[Scope | None] = []
        self.closed = False
        self.handle = FakeHandle({"001_kosmos.txt": NOTE})

    def models(self) -> list[str]:
        return MODELS

    @property
    def default_model(self) -> str:
        return MODELS[1]

    def stream(self, model: str, question: str, history: Sequence[tuple[str, str]] = (),
               scope: Scope | None = None) -> Iterator[Event | Answer]:
        self.calls.append((model, question, [tuple(p) for p in history]))  # type: ignore[misc]
        self.scopes.append(scope)
        items = self.items or answered(question)
        try:
            for i, item in enumerate(items):
                if self.error is not None and i == (self.error_after or 0):
                    raise self.error
                yield item
            if self.error is not None and not items:
                raise self.error
        finally:
            self.closed = True

    def model_ids(self) -> list[str]:
        return MODELS

    def split_model(self, model: str) -> tuple[str, str | None]:
        return model, None

    def knowledge_bases(self) -> list[str]:
        return ["notes"]

    def search(self, query: str, k: int, scope: Scope | None = None, kb: str | None = None) -> list[dict[str, Any]]:
        self.scopes.append(scope)
        hit = {"source": "001_kosmos.txt", "chunk_id": "c7", "text": "1.3 B", "score": 0.05, "dense": 0.9,
               "bm25": 3.2, "start": 90, "end": 140, "title": "Kosmos", "headings": ["多模态", "Kosmos-1"]}
        return [{**hit, "chunk_id": f"c{i}"} for i in range(k)]

    def knowledge_base(self, kb: str | None = None) -> dict[str, Any]:
        return {"name": "notes", "index": "/tmp/index", "notes": 5, "chunks": 126}

    def link(self, source: str, kb: str | None = None) -> str:
        return f"obsidian://open?vault=v&file={source}"

    def answerer(self, model: str | None = None, passages: int | None = None, kb: str | None = None) -> FakeAnswerer:
        """What the UI takes from ``Backend``: an answerer for a model choice."""
        return FakeAnswerer(self, model or self.default_model)

    def settings_for(self, kb: str | None = None) -> Settings:
        return self.settings

    def index(self, kb: str | None = None) -> FakeHandle:
        return self.handle


class FakeAnswerer:
    """The part of ``rag.answer.Answerer`` the UI uses."""

    waiting = 0

    def __init__(self, service: FakeService, model: str):
        self.service, self.model, self.handle = service, model, service.handle

    def stream(self, question: str, history: Sequence[tuple[str, str]] = (),
               scope: Scope | None = None) -> Iterator[Event | Answer]:
        return self.service.stream(self.model, question, history, scope)

    def warm_up(self) -> str:
        return "loaded"
