"""Counts the embedding model's tokens, the unit chunk sizes are measured in (see :class:`ingest.chunking.Chunker`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=4)
def _counter(folder: Path) -> Callable[[Sequence[str]], list[int]]:
    """The folder's tokenizer as a counting function, loaded once per process (loading takes ~0.8 s, more than
    chunking a re-ingested note)."""
    tok_file = folder / "tokenizer.json"
    if tok_file.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_file))
        tok.no_truncation()
        return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(folder))
    return lambda texts: [len(ids) for ids in hf(list(texts), add_special_tokens=False)["input_ids"]]


class TokenCounter:
    """Counts embedding-model tokens with the model's fast tokenizer (no torch import)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        return _counter(Path(self.folder))(texts) if texts else []
