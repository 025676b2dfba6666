"""What the UI and the API answer with: one loaded index per knowledge base and one ``Answerer`` per knowledge
base, model and passage count.

Both front ends take their answerers from the same ``Backend``, so they share the indexes in memory and queue
for the same llama.cpp model (``rag.llm.LocalLLM.turn`` runs one answer at a time, whoever asked, whichever
knowledge base it answers from).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from notesqa.settings import Settings

if TYPE_CHECKING:
    from rag.answer import Answerer
    from rag.retrieve import IndexHandle
    from rag.scope import Scope
    from rag.turn import Answer, Event

CUSTOM = "custom: "
"""Prefix of the model choice that stands for ``settings.llm_path``."""


def model_choices(settings: Settings) -> list[str]:
    """The models a question can be answered with: the bundled ones, and the configured GGUF first if any."""
    from rag.llm import BUNDLED

    choices = list(BUNDLED)
    if settings.llm_path is not None:
        choices.insert(0, f"{CUSTOM}{settings.llm_path}")
    return choices


KB_SEPARATOR = "@"
"""A model id names another knowledge base than the first after this: ``qwen2.5-coder-1.5b@reading``."""


class Backend:
    """The indexes and answerers shared by the chat UI and the OpenAI-compatible API."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._handles: dict[str, IndexHandle] = {}
        self._answerers: dict[str, Answerer] = {}
        self._lock = threading.Lock()

    def knowledge_bases(self) -> list[str]:
        """The knowledge bases by name, the configured notes folder's first."""
        return self.settings.knowledge_base_names()

    def settings_for(self, kb: str | None = None) -> Settings:
        """The settings of knowledge base ``kb`` (``None``: the first); ``UnknownKnowledgeBaseError`` for an
        unknown one."""
        return self.settings.for_knowledge_base(kb)

    def index(self, kb: str | None = None) -> IndexHandle:
        """The loaded index of knowledge base ``kb`` (one per knowledge base, whatever model a question picks)."""
        from rag.retrieve import IndexHandle

        settings = self.settings_for(kb)
        with self._lock:
            if settings.knowledge_base not in self._handles:
                self._handles[settings.knowledge_base] = IndexHandle(settings)
            return self._handles[settings.knowledge_base]

    @property
    def handle(self) -> IndexHandle:
        """The first knowledge base's index."""
        return self.index()

    def split_model(self, model: str) -> tuple[str, str | None]:
        """``(model, knowledge base)`` of a model id: ``qwen2.5-coder-1.5b@reading`` answers from "reading", a
        plain model name from the first knowledge base."""
        name, sep, kb = model.rpartition(KB_SEPARATOR)
        if sep and kb in self.settings.knowledge_bases:
            return name, kb
        return model, None

    def model_ids(self) -> list[str]:
        """What the API offers as models: each model on the first knowledge base, then on each other one."""
        models = self.models()
        return models + [f"{m}{KB_SEPARATOR}{kb}" for kb in self.knowledge_bases()[1:] for m in models]

    def models(self) -> list[str]:
        """The model choices (as the UI's settings list them)."""
        return model_choices(self.settings)

    @property
    def default_model(self) -> str:
        """The model used when a request names none: the configured one."""
        return self.models()[0] if self.settings.llm_path else self.settings.llm

    def answerer(self, model: str | None = None, passages: int | None = None, kb: str | None = None) -> Answerer:
        """The answerer for a model choice, a number of passages given to the model and a knowledge base
        (created once each)."""
        from rag.answer import Answerer

        model = model or self.default_model
        settings = self.settings_for(kb)
        passages = int(passages or settings.context_passages)
        update: dict[str, Any] = {"context_passages": passages}
        if not model.startswith(CUSTOM):
            update.update(llm=model, llm_path=None)
        key = f"{settings.knowledge_base}|{model}|{passages}"
        handle = self.index(kb)
        with self._lock:
            if key not in self._answerers:
                self._answerers[key] = Answerer(settings.model_copy(update=update), handle)
            return self._answerers[key]

    def stream(self, model: str, question: str, history: Sequence[tuple[str, str]] = (),
               scope: Scope | None = None) -> Iterator[Event | Answer]:
        """``Answerer.stream`` for the model id (a model, on another knowledge base after ``@``), with the
        configured number of passages."""
        name, kb = self.split_model(model)
        return self.answerer(name, kb=kb).stream(question, history, scope)

    def search(self, query: str, k: int, scope: Scope | None = None, kb: str | None = None) -> list[dict[str, Any]]:
        """Retrieval only: the top ``k`` passages (``rag.retrieve.Hit.as_dict``), best first."""
        return [h.as_dict() for h in self.index(kb).retriever(scope)(query, k)]

    def link(self, source: str, kb: str | None = None) -> str:
        """The link that opens a note in its app (``Index.link``), ``""`` when there is none or no index."""
        from ingest.store import IndexCorruptError

        try:
            return self.index(kb).get().link(source)
        except (IndexCorruptError, OSError, ValueError):
            return ""

    def knowledge_base(self, kb: str | None = None) -> dict[str, Any]:
        """What a knowledge base's index holds: its name, notes folder, index folder, notes and chunks (zeros
        when there is no usable index yet)."""
        from ingest.store import IndexCorruptError, IndexMissingError, read_manifest

        s = self.settings_for(kb)
        about: dict[str, Any] = {"name": s.knowledge_base, "notes_dir": str(s.corpus_dir), "index": str(s.index_dir)}
        try:
            m = read_manifest(s.index_dir)
        except (IndexMissingError, IndexCorruptError) as exc:
            return {**about, "notes": 0, "chunks": 0, "problem": str(exc)}
        return {**about, "notes": len(m.files), "chunks": m.chunk_count}
