"""Question sets in JSON Lines (``id, question, lang, type, answer, keywords, evidence``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ANSWERABLE = frozenset({"fact", "table", "multi", "cross"})


@dataclass(frozen=True)
class Evidence:
    source: str
    quote: str


@dataclass(frozen=True)
class Question:
    """One eval item. Only the scorer may look at ``answer``, ``keywords`` and ``evidence``."""

    id: str
    question: str
    lang: str
    type: str
    answer: str = ""
    keywords: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)

    @property
    def answerable(self) -> bool:
        return self.type in ANSWERABLE


def load_questions(path: Path) -> list[Question]:
    """Read and validate a question set; a malformed line is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Question set {path} not found.")
    out: list[Question] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            q = Question(
                id=str(d["id"]), question=str(d["question"]), lang=str(d.get("lang", "")),
                type=str(d.get("type", "fact")), answer=str(d.get("answer", "")),
                keywords=tuple(d.get("keywords") or ()),
                evidence=tuple(Evidence(e["source"], e["quote"]) for e in d.get("evidence") or ()),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a valid question ({exc})") from exc
        out.append(q)
    if not out:
        raise ValueError(f"{path} contains no questions.")
    return out
