"""Paired latency of two builds, question by question, in one process (``python benchmarks/paired_latency.py``).

This shared 2-core machine drifts: its prompt reading speed moved between 70 and 85 tok/s within an hour,
so two eval runs minutes apart differ by up to 0.4 s at p50 with the same prompts. Here both variants answer
each question back to back, in alternating order, each after the model cache is reset to the fixed prompt
prefix (so the second run does not reuse the first one's passages), and the medians are compared.

    python benchmarks/paired_latency.py eval/dev.jsonl eval/heldout.jsonl \\
        --a context.MARGIN=0.15 --b context.MARGIN=0.10

A variant is a list of ``module.NAME=value`` overrides of constants in ``rag`` modules, or ``setting=value``
overrides of the settings that answering and retrieval read per question (``context_max_chars=300``,
``rrf_k=60``); not the chat model or the index, which are loaded once.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notesqa.settings import Settings
from rag.answer import Answerer
from rag.eval.dataset import load_questions


@contextmanager
def applied(overrides: list[str], answerer: Answerer, base: Settings) -> Iterator[None]:
    """Apply ``module.NAME=value`` / ``setting=value`` overrides for the duration of the block."""
    saved: list[tuple[Any, str, Any]] = []
    fields: dict[str, Any] = {}
    for item in overrides:
        key, value = item.split("=", 1)
        if "." in key:
            mod, name = key.rsplit(".", 1)
            module = importlib.import_module(f"rag.{mod}")
            old = getattr(module, name)
            saved.append((module, name, old))
            setattr(module, name, type(old)(value))
        else:
            fields[key] = value
    variant = Settings.model_validate({**base.model_dump(), **fields}) if fields else base
    answerer.settings = answerer.handle.settings = variant  # the retriever takes its settings from the handle
    try:
        yield
    finally:
        for module, name, old in saved:
            setattr(module, name, old)
        answerer.settings = answerer.handle.settings = base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions", nargs="+", type=Path)
    ap.add_argument("--a", nargs="*", default=[], help="overrides of variant A (default: this build)")
    ap.add_argument("--b", nargs="*", default=[], help="overrides of variant B")
    args = ap.parse_args()

    base = Settings()
    answerer = Answerer(base)
    variants = {"A": args.a, "B": args.b}
    keys = ("first_token", "first_answer_token", "total")
    seen: dict[str, dict[str, list[float]]] = {v: {k: [] for k in (*keys, "prompt_tokens")} for v in variants}
    same = 0
    questions = [q for path in args.questions for q in load_questions(path) if q.answerable]
    for i, q in enumerate(questions):
        answers = {}
        for name in (["A", "B"] if i % 2 == 0 else ["B", "A"]):
            with applied(variants[name], answerer, base):
                answerer.warm_up()  # back to the fixed prefix in llama.cpp's cache
                result = answerer.answer(q.question)
            answers[name] = result.answer
            if result.timings.get("first_token") is None:
                continue
            for k in keys:
                seen[name][k].append(result.timings[k] or 0.0)
            seen[name]["prompt_tokens"].append(result.usage.get("prompt_tokens", 0))
        same += answers["A"] == answers["B"]
    print(f"{len(questions)} questions, {same} answered alike")
    for name, overrides in variants.items():
        figures = "  ".join(f"{k} p50 {statistics.median(v):.2f}" for k, v in seen[name].items() if v)
        print(f"{name} ({' '.join(overrides) or 'this build'}): {figures}")


if __name__ == "__main__":
    main()
