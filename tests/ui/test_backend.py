"""The backend: one index per knowledge base, chosen by a model id's ``@name`` in the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from notesqa.settings import Settings, UnknownKnowledgeBaseError
from ui.api import list_models
from ui.backend import Backend


@pytest.fixture()
def backend(tmp_path: Path) -> Backend:
    return Backend(Settings(corpus_dir=tmp_path / "work", index_dir=tmp_path / "i-work", knowledge_base="work",
                            knowledge_bases={"reading": {"notes": tmp_path / "books", "index": tmp_path / "i-read"}}))


def test_model_ids_name_the_other_knowledge_bases(backend: Backend) -> None:
    models = backend.models()
    assert backend.model_ids() == models + [f"{m}@reading" for m in models]
    assert backend.split_model(f"{models[0]}@reading") == (models[0], "reading")
    assert backend.split_model(models[0]) == (models[0], None)
    assert backend.split_model("model@unknown") == ("model@unknown", None)


def test_each_knowledge_base_has_its_own_index_and_answerers(backend: Backend, tmp_path: Path) -> None:
    assert backend.index("reading").settings.index_dir == tmp_path / "i-read"
    assert backend.index() is backend.handle is backend.index("work")
    assert backend.index("reading") is backend.index("reading")
    assert backend.answerer(kb="reading").settings.corpus_dir == tmp_path / "books"
    assert backend.answerer(kb="reading").handle is backend.index("reading")
    with pytest.raises(UnknownKnowledgeBaseError):
        backend.index("nope")


def test_models_list_each_model_with_its_knowledge_base(backend: Backend, tmp_path: Path) -> None:
    data = list_models(backend)["data"]  # type: ignore[arg-type]
    kb = {m["id"]: m["knowledge_base"] for m in data}
    first = backend.models()[0]
    assert kb[first]["name"] == "work" and kb[f"{first}@reading"]["notes_dir"] == str(tmp_path / "books")
    assert kb[f"{first}@reading"]["notes"] == 0 and "problem" in kb[f"{first}@reading"]  # not ingested yet
