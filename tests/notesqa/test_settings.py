"""Settings: several knowledge bases by name, each a notes folder and its index; values checked when set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from notesqa.settings import Settings, UnknownKnowledgeBaseError


def test_knowledge_bases_come_from_the_toml_and_the_configured_one_is_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notesqa.toml").write_text(
        'corpus_dir = "work"\nindex_dir = "idx/work"\nknowledge_base = "work"\n'
        '[knowledge_bases.reading]\nnotes = "books"\nindex = "idx/reading"\n', encoding="utf-8")
    s = Settings()
    assert s.knowledge_base_names() == ["work", "reading"]
    reading = s.for_knowledge_base("reading")
    assert (reading.corpus_dir, reading.index_dir, reading.knowledge_base) == (
        Path("books"), Path("idx/reading"), "reading")
    assert reading.top_k == s.top_k and s.for_knowledge_base(None) is s and s.for_knowledge_base("work") is s
    with pytest.raises(UnknownKnowledgeBaseError, match="there are: work, reading"):
        s.for_knowledge_base("nope")


def test_a_knowledge_base_name_must_fit_in_a_model_id() -> None:
    with pytest.raises(ValidationError):
        Settings(knowledge_bases={"my books": {"notes": "b", "index": "i"}})
    assert Settings(knowledge_bases={"读书-2024": {"notes": "b", "index": "i"}}).knowledge_base_names() == [
        "notes", "读书-2024"]


@pytest.mark.parametrize("uri", ["http://127.0.0.1:19530", "https://user:pw@milvus.example:443",
                                 "tcp://localhost:19530", "unix:/tmp/milvus.sock"])
def test_milvus_uri_takes_a_server_address(uri: str) -> None:
    assert Settings(milvus_uri=f" {uri} ").milvus_uri == uri


@pytest.mark.parametrize("uri", ["", "  ", None])
def test_an_empty_milvus_uri_means_milvus_lite_in_each_generation(uri: str | None) -> None:
    assert Settings(milvus_uri=uri).milvus_uri is None


@pytest.mark.parametrize("uri", ["milvus.db", "/data/notes/milvus.db", "127.0.0.1:19530"])
def test_milvus_uri_refuses_what_is_not_a_server(uri: str) -> None:
    with pytest.raises(ValidationError, match="leave it unset"):
        Settings(milvus_uri=uri)
    with pytest.raises(ValidationError, match="not a Milvus server"):
        Settings().milvus_uri = uri  # checked on assignment too
