"""Ingest progress for machines: one JSON line per update on a stream (stderr), with an ETA.

The terminal gets rich's progress bars instead; both are fed the pipeline's ``progress(stage, done, total)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

STAGES = {"files": "切分 / chunking notes", "chunks": "向量化 / embedding chunks"}
"""What each pipeline stage is called on screen."""

LINE_EVERY_S = 1.0
"""At most one progress line per stage per second (plus the stage's first and last), so a log of a large ingest
stays readable and a reader of the stream still sees it move."""


@dataclass
class JsonProgress:
    """``progress(stage, done, total)`` that writes ``{"progress": {...}}`` lines: stage, done, total,
    elapsed_s and eta_s (``null`` until something is done)."""

    stream: TextIO
    clock: Callable[[], float] = time.monotonic
    _started: dict[str, float] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        start = self._started.setdefault(stage, now)
        first, last = stage not in self._last, done >= total
        if not (first or last or now - self._last[stage] >= LINE_EVERY_S):
            return
        self._last[stage] = now
        elapsed = now - start
        eta = round(elapsed / done * (total - done), 1) if done else None
        line = {"stage": stage, "label": STAGES.get(stage, stage), "done": done, "total": total,
                "elapsed_s": round(elapsed, 1), "eta_s": eta}
        self.stream.write(json.dumps({"progress": line}, ensure_ascii=False) + "\n")
        self.stream.flush()
