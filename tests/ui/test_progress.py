"""JSON progress lines: first and last of a stage always, at most one a second between, with an ETA."""

from __future__ import annotations

import io
import json

from ui.progress import LINE_EVERY_S, JsonProgress


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line)["progress"] for line in stream.getvalue().splitlines()]


def test_lines_are_throttled_and_carry_an_eta() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = JsonProgress(out, clock=lambda: now[0])
    progress("chunks", 0, 10)
    for done in range(1, 11):
        now[0] += LINE_EVERY_S / 2
        progress("chunks", done, 10)
    lines = _lines(out)
    assert lines[0] == {"stage": "chunks", "label": "向量化 / embedding chunks", "done": 0, "total": 10,
                        "elapsed_s": 0.0, "eta_s": None}
    assert [p["done"] for p in lines] == [0, 2, 4, 6, 8, 10]
    assert lines[2]["eta_s"] == 3.0  # 2 s for 4 chunks, 6 to go
    assert lines[-1]["eta_s"] == 0


def test_each_stage_has_its_own_clock() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = JsonProgress(out, clock=lambda: now[0])
    progress("files", 1, 1)
    now[0] = 5.0
    progress("chunks", 1, 4)
    chunks = _lines(out)[-1]
    assert chunks["stage"] == "chunks" and chunks["elapsed_s"] == 0.0
