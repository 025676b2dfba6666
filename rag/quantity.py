"""Moved to :mod:`notesqa.quantity`; this module stays only until ``rag/answer.py`` imports from there."""

from notesqa.quantity import quantities as quantities
