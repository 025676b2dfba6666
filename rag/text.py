"""Moved to :mod:`notesqa.text`; this module stays only until ``rag/answer.py`` imports from there."""

from notesqa.text import terms as terms
