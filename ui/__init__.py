"""Where people use notesqa: the Gradio UI, the OpenAI-compatible API and the CLI, thin layers over rag and ingest."""
