"""notesqa: local, private, bilingual question answering over your own notes (thin shell: settings + CLI)."""
