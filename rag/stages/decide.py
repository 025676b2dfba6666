"""Stage 3: is the question answerable from what was found? Decided before the model is asked, because a
small model given passages that do not hold the answer invents one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from notesqa.settings import Settings
from rag import guard
from rag.retrieve import Hit
from rag.turn import Answer, Reason, Turn


def decide(turn: Turn, settings: Settings, notes_of: Callable[[Sequence[Hit]], list[str]]) -> Answer | None:
    """Abstain when the best passage is not similar enough to the question (``abstain_dense_min_zh`` /
    ``_en``), or when the notes the hits come from do not mention a name the question asks about. ``None``
    when the question goes on."""
    top_dense = max((h.dense for h in turn.hits if h.dense is not None), default=0.0)
    threshold = settings.abstain_dense_min_zh if turn.lang == "zh" else settings.abstain_dense_min_en
    if not turn.hits or top_dense < threshold:
        return turn.stop(Reason.GATE, f"Best passage similarity {top_dense:.3f} < {threshold}.")
    missing = guard.missing_terms(turn.query, notes_of(turn.hits))
    if missing:
        return turn.stop(Reason.MISSING_TERMS, "The notes found do not mention: " + ", ".join(missing))
    return None
