"""Small records for the stage tests: chunks, hits, selected passages and turns, made without any model."""

from __future__ import annotations

from ingest.chunking import Chunk
from rag import prompts
from rag.context import Selected
from rag.retrieve import Hit
from rag.turn import Answer, Turn


def chunk(n: int, text: str, source: str = "", headings: tuple[str, ...] = ()) -> Chunk:
    return Chunk(id=f"c{n}", source=source or f"n{n}.md", title="t", headings=headings, start=100 * n,
                 end=100 * n + len(text), text=text)


def selected(n: int, text: str, table: bool = False) -> Selected:
    return Selected(prompts.Passage(n, "t", text), Hit(chunk(n, text), 1.0), ((0, len(text)),), table=table)


def turn(question: str, lang: str = "zh") -> Turn:
    return Turn(Answer(question=question, answer="", lang=lang), 0.0, question)
