"""Answering: retrieve from the index, gate, prompt the local model, check and cite (never writes the index)."""
