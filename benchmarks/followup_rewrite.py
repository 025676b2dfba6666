"""Does the history-aware rewrite help follow-up questions? hit@5 with and without it. Prints figures.

    python benchmarks/followup_rewrite.py eval/followups.jsonl

Each line: ``history`` (earlier user questions), ``question`` (the follow-up) and an ``evidence`` quote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from notesqa.settings import Settings
from rag.eval.scoring import covers
from rag.followup import standalone
from rag.retrieve import IndexHandle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    args = ap.parse_args()
    retriever = IndexHandle(Settings()).retriever()
    items = [json.loads(line) for line in args.path.read_text(encoding="utf-8").splitlines() if line.strip()]
    raw_hits = rewritten_hits = 0
    for item in items:
        history = [(h, "") for h in item["history"]]
        query = standalone(item["question"], history)
        raw = any(covers(h.chunk.text, item["evidence"]) for h in retriever(item["question"], 5))
        new = any(covers(h.chunk.text, item["evidence"]) for h in retriever(query, 5))
        raw_hits += raw
        rewritten_hits += new
        print(f"{item['id']}  {'hit ' if raw else 'miss'} -> {'hit ' if new else 'miss'}  {query}")
    n = len(items)
    print(json.dumps({"n": n, "hit@5_without_rewrite": round(raw_hits / n, 3),
                      "hit@5_with_rewrite": round(rewritten_hits / n, 3)}))


if __name__ == "__main__":
    main()
