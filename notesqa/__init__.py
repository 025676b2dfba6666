"""notesqa's shared base, imported by every layer: the settings, and the text rules ingest and rag share."""
