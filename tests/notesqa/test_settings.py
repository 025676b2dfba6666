"""Settings that are checked when they are set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notesqa.settings import Settings


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
