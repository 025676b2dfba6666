"""Token counts in the embedding model's own tokens, as the chunker sizes chunks."""

from __future__ import annotations

from tokenizers import Tokenizer

from ingest.bundled_e5 import tokenizer_file
from ingest.token_counter import TokenCounter


def test_counts_leave_out_special_tokens(count_tokens: TokenCounter) -> None:
    texts = ["如何在 Linux 上查看磁盘空间？", "Backups run nightly."]
    reference = Tokenizer.from_file(str(tokenizer_file()))
    with_specials = [len(e.ids) for e in reference.encode_batch(texts)]
    assert count_tokens(texts) == [n - 2 for n in with_specials]  # e5 (XLM-R) adds <s> and </s>


def test_long_texts_are_counted_whole_not_truncated(count_tokens: TokenCounter) -> None:
    (n,) = count_tokens(["词语 " * 600])
    assert n > 512  # the chunker must see that this is too long for the model


def test_no_texts_no_counts(count_tokens: TokenCounter) -> None:
    assert count_tokens([]) == [] and count_tokens(()) == []
