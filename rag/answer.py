"""``Answerer``: the one entry point (CLI, UI, API and eval alike) from a question to a cited ``Answer``. It
holds the index and the models, and runs the answer path's stages (``rag.stages``) in order over one ``Turn``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from functools import cached_property, partial
from typing import Any

from ingest.chunking import LIST_ITEM, Chunk
from ingest.embeddings import E5Embeddings, get_embeddings
from notesqa.settings import Settings
from rag import guard, prompts
from rag.genre import GenreCheck
from rag.intent import IntentClassifier
from rag.retrieve import Hit, HybridRetriever, IndexHandle
from rag.scope import Scope
from rag.stages.cite import cite
from rag.stages.compose import compose
from rag.stages.decide import decide
from rag.stages.generate import generate
from rag.stages.prepare import parts, prepare, screen
from rag.stages.retrieve import retrieve, widen
from rag.stages.select import select
from rag.stages.verify import verify
from rag.turn import Answer, Event, EventKind, Turn

log = logging.getLogger(__name__)


class Answerer:
    """Holds the index and the models, and answers a question by running the stages in order (``stream``)."""

    def __init__(self, settings: Settings, handle: IndexHandle | None = None):
        self.settings = settings
        self.handle = handle or IndexHandle(settings)
        """The loaded index; answerers that differ only in model or prompt settings can share one."""
        self._llm: Any = None

    # --- retrieval ---------------------------------------------------------------------------
    def retriever(self, scope: Scope | None = None) -> HybridRetriever:
        return self.handle.retriever(scope)

    def retrieve(self, question: str, k: int | None = None, scope: Scope | None = None) -> list[Hit]:
        return self.retriever(scope)(question, k)

    @cached_property
    def sentence_embeddings(self) -> E5Embeddings:
        """The embedding model that reads text for the answer path's decisions (``context_embed_backend``): it
        scores the prompt's candidate sentences, feeds the request and genre classifiers and matches citations.
        The index's own vectors (passages, the question's search vector) come from ``embed_backend``."""
        s = self.settings
        if s.context_embed_backend not in ("same", s.embed_backend):
            try:
                return get_embeddings(s, backend=s.context_embed_backend)
            except ImportError as exc:
                log.warning("context_embed_backend=%s unavailable (%s); using %s", s.context_embed_backend, exc,
                            s.embed_backend)
        return get_embeddings(s)

    @cached_property
    def intent(self) -> IntentClassifier:
        """The decision about the request, before retrieval (``rag.intent``)."""
        return IntentClassifier(self.sentence_embeddings, self.settings.cache_dir)

    @cached_property
    def genre(self) -> GenreCheck:
        """What the written answer reads as (``rag.genre``)."""
        return GenreCheck(self.sentence_embeddings, self.settings.cache_dir)

    def _lead_ins(self, chunk: Chunk) -> list[str]:
        """The lead-in lines that frame a chunk's lines: its own, and when it starts inside a list, the last
        one of the chunk before it (the list began there: "以GPT-3为例，使用的参数如下：")."""
        own = guard.lead_ins(chunk.text)
        if not LIST_ITEM.match(chunk.text.lstrip("\n")):
            return own
        before = self.handle.get().before(chunk)
        return (guard.lead_ins(before.text)[-1:] if before else []) + own

    def _notes_of(self, hits: Sequence[Hit]) -> list[str]:
        """The whole notes the hits come from, chunk by chunk (with heading paths): a name the question
        asks about is often written once at the top of a list or section ("以GPT-3为例，…："), not in the
        passage that holds the fact."""
        index = self.handle.get()
        return [c.embed_text for source in dict.fromkeys(h.chunk.source for h in hits)
                for c in index.note_chunks(source)]

    # --- model -------------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        if self._llm is None:
            from rag.llm import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    @property
    def waiting(self) -> int:
        """Questions queued for the model behind the one being answered (0 before the model is loaded)."""
        return self._llm.waiting if self._llm is not None else 0

    @property
    def model_name(self) -> str:
        from rag.llm import model_path

        return model_path(self.settings).name

    def warm_up(self) -> str:
        """Load the index and both models, and put the fixed prompt prefix into llama.cpp's cache (its state
        is saved in the cache directory once, then loaded), so the first question after a start costs no more
        than the next ones. Returns how the prefix got there: "loaded" or "computed"."""
        self.retrieve("warm up", 1)
        self.intent.fitted()  # both classifiers: fitted once per embedding model and examples, then cached
        self.genre.fitted()
        self.sentence_embeddings.embed_query("warm up")  # its own model when context_embed_backend differs
        llm = self.llm
        two = (llm.chat_prompt(prompts.messages("warm up", [prompts.Passage(1, "-", "-")], "zh"), "思考: "),
               llm.chat_prompt(prompts.messages("prefix", [prompts.Passage(1, "x", "y")], "en"), "Reasoning: "))
        with llm.turn():
            return llm.read_prefix(two, self.settings.cache_dir)

    # --- answering -----------------------------------------------------------------------------
    def answer(self, question: str, history: Sequence[tuple[str, str]] = (), scope: Scope | None = None) -> Answer:
        """Answer without streaming (consumes :meth:`stream`)."""
        final = None
        for item in self.stream(question, history, scope):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, history: Sequence[tuple[str, str]] = (),
               scope: Scope | None = None) -> Iterator[Event | Answer]:
        """Yield ``Event``s as the stages produce them (evidence, reasoning and answer deltas), then the final
        ``Answer``; with a ``scope``, only from the notes in it.

        Raises ``guard.QuestionError`` for an empty or over-long question and ``ScopeError`` for a scope that
        holds no note.
        """
        turn = prepare(question, history, self.settings.max_question_chars, time.perf_counter())
        if turn.result.notice:
            yield Event(EventKind.NOTICE, turn.result.notice)
        declined = screen(turn, self.intent)
        if declined:
            yield declined
            return
        retriever = self.retriever(scope)  # a scope naming no note fails here, before the model runs
        if scope is not None:
            turn.result.scope = scope.to_dict()
            yield Event(EventKind.NOTICE, f"Searching only {scope.describe()} ({len(retriever.notes or ())} notes).")
        several = parts(turn, self.settings.decompose_questions)
        yield from compose(turn, several, partial(self._one, retriever=retriever)) if several else self._one(
            turn, retriever)

    def _one(self, turn: Turn, retriever: HybridRetriever) -> Iterator[Event | Answer]:
        """One question (or part): retrieve, decide, select, generate, verify, cite."""
        s = self.settings
        k = max(s.top_k, s.context_passages)
        retrieve(turn, retriever, k)
        stopped = decide(turn, s, self._notes_of)
        if stopped is None:
            yield from widen(turn, retriever, k, self.llm, self.sentence_embeddings, self._notes_of, s)
            stopped = yield from select(turn, retriever, self.sentence_embeddings, s)
        if stopped is not None:
            yield stopped
            return
        yield from generate(turn, self.llm, s)
        checked = verify(turn, self.genre, self._lead_ins, s.answerability_min)
        yield checked if isinstance(checked, Answer) else cite(turn, checked, self.sentence_embeddings)
