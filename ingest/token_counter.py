"""Counts the embedding model's tokens, the unit chunk sizes are measured in (see :class:`ingest.chunking.Chunker`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path


class TokenCounter:
    """Counts embedding-model tokens with the model's fast tokenizer (no torch import)."""

    def __init__(self, folder: Path):
        self.folder = folder

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        tok_file = self.folder / "tokenizer.json"
        if tok_file.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tok_file))
            tok.no_truncation()
            return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(self.folder))
        return lambda texts: [len(ids) for ids in hf(list(texts), add_special_tokens=False)["input_ids"]]

    def __call__(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        return self._tokenizer(texts) if texts else []
