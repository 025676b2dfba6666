"""Offline evaluation: run a question set through the pipeline, score it, and write a report."""
