"""Tests mirror the packages: ingest/, rag/, ui/, notesqa/."""
