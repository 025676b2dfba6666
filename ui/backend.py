"""What the UI and the API answer with: one loaded index and one ``Answerer`` per model and passage count.

Both front ends take their answerers from the same ``Backend``, so they share the index in memory and queue for
the same llama.cpp model (``rag.llm.LocalLLM.turn`` runs one answer at a time, whoever asked).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from notesqa.settings import Settings

if TYPE_CHECKING:
    from rag.answer import Answerer
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


class Backend:
    """The index and answerers shared by the chat UI and the OpenAI-compatible API."""

    def __init__(self, settings: Settings):
        from rag.retrieve import IndexHandle

        self.settings = settings
        self.handle = IndexHandle(settings)
        """One loaded index, whatever model or passage count a question picks."""
        self._answerers: dict[str, Answerer] = {}
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        """The model choices (as the UI's settings list them)."""
        return model_choices(self.settings)

    @property
    def default_model(self) -> str:
        """The model used when a request names none: the configured one."""
        return self.models()[0] if self.settings.llm_path else self.settings.llm

    def answerer(self, model: str | None = None, passages: int | None = None) -> Answerer:
        """The answerer for a model choice and a number of passages given to the model (created once)."""
        from rag.answer import Answerer

        model = model or self.default_model
        passages = int(passages or self.settings.context_passages)
        update: dict[str, Any] = {"context_passages": passages}
        if not model.startswith(CUSTOM):
            update.update(llm=model, llm_path=None)
        key = f"{model}|{passages}"
        with self._lock:
            if key not in self._answerers:
                self._answerers[key] = Answerer(self.settings.model_copy(update=update), self.handle)
            return self._answerers[key]

    def stream(self, model: str, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[Event | Answer]:
        """``Answerer.stream`` for the model choice, with the configured number of passages."""
        return self.answerer(model).stream(question, history)

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        """Retrieval only: the top ``k`` passages (``rag.retrieve.Hit.as_dict``), best first."""
        return [h.as_dict() for h in self.handle.retriever()(query, k)]

    def knowledge_base(self) -> dict[str, Any]:
        """What the index holds: its folder, notes and chunks (zeros when there is no usable index yet)."""
        from ingest.store import IndexCorruptError, IndexMissingError, read_manifest

        try:
            m = read_manifest(self.settings.index_dir)
        except (IndexMissingError, IndexCorruptError) as exc:
            return {"index": str(self.settings.index_dir), "notes": 0, "chunks": 0, "problem": str(exc)}
        return {"index": str(self.settings.index_dir), "notes": len(m.files), "chunks": m.chunk_count}
