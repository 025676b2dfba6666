"""Stage 7: which passages the answer was taken from, decided in code (small models' [n] markers are
unreliable), and the answer as shown with its markers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.embeddings import E5Embeddings
from notesqa.text import longest_run
from rag import guard, prompts
from rag.context import Selected
from rag.stages.verify import Verified
from rag.turn import Answer, Citation, Reason, Turn

MIN_COPIED_RUN = 6
"""Least length of a verbatim run shared with a passage for the answer to count as copied from it (shorter
runs are names and numbers any passage may share)."""


def cited_numbers(raw: str, reasoning: str, body: str, selected: Sequence[Selected], ground: guard.Grounding,
                  embeddings: E5Embeddings) -> list[int]:
    """The numbers (1-based) of the passages the answer was taken from.

    A passage is cited when it shares a long verbatim run with the answer (at least half the best run, and
    ``MIN_COPIED_RUN``+ characters), or holds the answer's checked facts. An answer that copies from no
    passage (an English answer to Chinese notes) cites the passage closest to it in meaning (e5, which is
    multilingual). The model's own [n] markers are the last resort, and only for passages it was given.
    """
    if not selected:
        return []
    runs = [longest_run(body, x.passage.text) for x in selected]
    best = max(runs)
    numbers = [i + 1 for i, r in enumerate(runs) if best >= MIN_COPIED_RUN and r >= max(MIN_COPIED_RUN, best // 2)]
    if not numbers and body:
        vecs = np.asarray(embeddings.embed_documents([body] + [x.passage.text for x in selected]))
        numbers = [int(np.argmax(vecs[1:] @ vecs[0])) + 1]
    if ground.supporting and len(ground.supporting) < len(selected):
        numbers = sorted(set(numbers) | {i + 1 for i in ground.supporting})
    if not numbers:
        marked = [int(n) for n in prompts.CITE_MARK.findall(raw + reasoning) if 1 <= int(n) <= len(selected)]
        numbers = marked[:1] or [runs.index(best) + 1]
    return list(dict.fromkeys(numbers))


def citation(n: int, x: Selected) -> Citation:
    """Passage ``n`` as a citation: its chunk, and the note's ranges of the sentences the model was given."""
    c = x.hit.chunk
    return Citation(c.source, c.id, c.text, c.start, c.end, c.title, tuple(c.headings), c.lines, n=n,
                    spans=tuple((c.start + a, c.start + b) for a, b in x.spans))


def cite(turn: Turn, verified: Verified, embeddings: E5Embeddings) -> Answer:
    """The answered ``Answer``: the verified text followed by the markers of the passages it cites."""
    numbers = cited_numbers(turn.raw, turn.reasoning, verified.body, turn.selected, verified.grounding, embeddings)
    turn.result.citations = [citation(n, turn.selected[n - 1]) for n in numbers]
    markers = "".join(f"[{n}]" for n in numbers)
    return turn.result.finish(turn.t0, f"{verified.body} {markers}".strip(), Reason.ANSWERED,
                              reasoning=turn.reasoning)
