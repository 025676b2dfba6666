"""Ingestion: notes folder -> chunks -> embeddings -> index directory on disk (the only writer of the index)."""
