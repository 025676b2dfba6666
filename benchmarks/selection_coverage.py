"""Does the evidence reach the prompt? For each answerable question, whether the passages the model would read
hold every gold keyword. Retrieval and sentence selection only, no language model: seconds per set.

    python benchmarks/selection_coverage.py .notesqa/index=eval/dev.jsonl \
        .notesqa/solarge=../shared/eval/solarge-dev.jsonl

Each argument is ``INDEX_DIR=QUESTIONS``. English questions are searched and selected with their own words
only (the answer path adds a Chinese rendering made by the model), so their figure is a lower bound.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from notesqa.settings import Settings
from rag.answer import Answerer
from rag.context import select_context
from rag.eval.dataset import load_questions
from rag.eval.scoring import keyword_present


def coverage(index_dir: str, questions: Path) -> tuple[int, int, float, list[str]]:
    """``(covered, answerable, mean passage characters, ids not covered)`` for one question set."""
    settings = Settings(index_dir=Path(index_dir))
    answerer = Answerer(settings)
    rows = [q for q in load_questions(questions) if q.answerable and q.keywords]
    covered, chars, missed = 0, 0, []
    for q in rows:
        hits = answerer.retrieve(q.question, settings.top_k)
        selected = select_context(q.question, hits, answerer.sentence_embeddings, settings.context_passages,
                                  settings.context_max_chars)
        text = "\n".join(x.passage.text for x in selected)
        chars += sum(len(x.passage.text) for x in selected)
        if all(keyword_present(text, k) for k in q.keywords):  # as the eval scores an answer's keywords
            covered += 1
        else:
            missed.append(q.id)
    return covered, len(rows), chars / max(1, len(rows)), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="INDEX_DIR=QUESTIONS")
    args = parser.parse_args()
    print("| set | keywords in the prompt | mean passage chars | not covered |\n|---|---|---|---|")
    for spec in args.sets:
        index_dir, _, path = spec.partition("=")
        covered, n, chars, missed = coverage(index_dir, Path(path))
        print(f"| {Path(path).name} | {covered}/{n} = {covered / max(1, n):.3f} | {chars:.0f} | {' '.join(missed)} |",
              flush=True)


if __name__ == "__main__":
    main()
