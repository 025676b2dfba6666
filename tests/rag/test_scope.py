"""Scopes: which notes a question may be answered from, by folder, file, pattern and tag."""

from __future__ import annotations

import pytest

from rag.scope import Scope, ScopeError

NOTES = {
    "papers/2024/rag.md": ["RAG", "eval"],
    "papers/lora.pdf": [],
    "journal/today.md": ["rag/ideas"],
    "inbox.md": ["todo"],
}


def _in(scope: Scope | None) -> list[str]:
    assert scope is not None
    return scope.notes(NOTES)


def test_folders_files_and_patterns() -> None:
    assert _in(Scope.of(["papers/"])) == ["papers/2024/rag.md", "papers/lora.pdf"]
    assert _in(Scope.of(["./papers"])) == ["papers/2024/rag.md", "papers/lora.pdf"]
    assert _in(Scope.of(["papers\\2024"])) == ["papers/2024/rag.md"]
    assert _in(Scope.of(["inbox.md"])) == ["inbox.md"]
    assert _in(Scope.of(["*.pdf"])) == ["papers/lora.pdf"]
    assert _in(Scope.of(["papers/*/*.md", "journal/"])) == ["papers/2024/rag.md", "journal/today.md"]


def test_a_folder_name_is_not_a_prefix_of_another() -> None:
    with pytest.raises(ScopeError, match="pap"):
        Scope.of(["pap"]).notes(NOTES)  # type: ignore[union-attr]


def test_tags_ignore_case_and_hash_and_take_nested_tags() -> None:
    assert _in(Scope.of(tags=["#rag"])) == ["papers/2024/rag.md", "journal/today.md"]
    assert _in(Scope.of(tags=["rag/ideas"])) == ["journal/today.md"]
    assert _in(Scope.of(["papers/"], ["rag"])) == ["papers/2024/rag.md"]  # a place and a tag: both


def test_nothing_given_is_no_scope_and_blank_items_are_dropped() -> None:
    assert Scope.of() is None and Scope.of([" "], ["#"]) is None
    assert Scope.from_items(["papers/", "#RAG", ""]) == Scope(("papers/",), ("rag",))
    assert Scope.from_dict(None) is None
    assert Scope.from_dict({"in": "papers/", "tags": ["rag"]}) == Scope(("papers/",), ("rag",))


@pytest.mark.parametrize("bad", [{"folder": "x"}, {"in": 3}, {"tags": [1]}, ["papers/"]])
def test_a_malformed_scope_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ScopeError):
        Scope.from_dict(bad)  # type: ignore[arg-type]


def test_a_scope_without_notes_says_so() -> None:
    with pytest.raises(ScopeError, match="No note of the index is in papers/ · #todo"):
        Scope.of(["papers/"], ["todo"]).notes(NOTES)  # type: ignore[union-attr]


def test_choices_list_every_folder_then_every_tag() -> None:
    assert Scope.choices(NOTES) == ["journal/", "papers/", "papers/2024/", "#eval", "#rag", "#rag/ideas", "#todo"]
