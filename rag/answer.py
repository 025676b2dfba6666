"""``Answerer``: the one entry point (CLI, UI and eval alike) from a question to a cited ``Answer``."""

from __future__ import annotations

from notesqa.settings import Settings
from rag.retrieve import Hit, HybridRetriever, IndexHandle


class Answerer:
    """Retrieves, gates, prompts the local model, and checks the answer against the passages."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.handle = IndexHandle(settings)

    def retriever(self) -> HybridRetriever:
        return self.handle.retriever()

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        return self.retriever()(question, k)
