"""Stage 3: could the notes found answer the question at all? Decided before the model is asked, because a
small model given passages that do not hold the answer invents one, and an abstention shown at once costs
the user no wait."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from notesqa.settings import Settings
from rag import answerability
from rag.retrieve import Hit
from rag.turn import Answer, Reason, Turn


def decide(turn: Turn, settings: Settings, notes_of: Callable[[Sequence[Hit]], list[str]]) -> Answer | None:
    """Abstain when the best passage is farther from the question than any the answerability decision was
    fitted on (``abstain_dense_min_zh`` / ``_en``), or when even a perfect answer from these passages would
    fall below ``answerability_min`` (``rag.answerability.best_case``: the notes found do not mention the names
    the question asks about). ``None`` when the question goes on; the signals are kept on the turn for the
    check after the model."""
    top_dense = max((h.dense for h in turn.hits if h.dense is not None), default=0.0)
    floor = settings.abstain_dense_min_zh if turn.lang == "zh" else settings.abstain_dense_min_en
    if not turn.hits or top_dense < floor:
        return turn.stop(Reason.GATE, f"Best passage similarity {top_dense:.3f} < {floor}.")
    turn.signals = answerability.before_model(turn.query, turn.lang, top_dense, notes_of(turn.hits))
    p = answerability.probability(answerability.best_case(turn.signals))
    turn.result.answerability = {"stage": "before model", "p": round(p, 4), "signals": turn.signals.to_dict()}
    if p < settings.answerability_min:
        why = (f"Even a fully supported answer from these passages is unlikely to be right (p = {p:.2f} < "
               f"{settings.answerability_min}; question names mentioned in the notes found: "
               f"{turn.signals.coverage:.0%}).")
        return turn.stop(Reason.GATE, why)
    return None
