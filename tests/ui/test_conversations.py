"""Conversations in the UI: every finished turn is saved, and after a restart a conversation is listed, opened
and continued with its history, renamed and deleted (a real server, canned answers instead of the models)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notesqa.settings import Settings
from tests.helpers.fakes import CITE, FakeService, abstained
from ui.chats import ChatStore, Conversation, SavedTurn
from ui.render import reply_markdown, restored_chat


def test_a_stored_conversation_is_shown_with_its_sources_and_inert() -> None:
    turns = (
        SavedTurn(1, 0, "<b>Kosmos</b>?", "1.3B. [1]", 0.0, citations=[CITE]),
        SavedTurn(2, 1, "why", "笔记里没有找到这个问题的答案。", 0.0, abstained=True, reason="gate",
                  notice="in English"),
    )
    chat = restored_chat(Conversation("c1", "t", 0.0, 0.0, 2, turns))
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    assert chat[0]["content"] == "&lt;b&gt;Kosmos&lt;/b&gt;?"
    assert "1.3B. [1]" in chat[1]["content"] and "- [1] 001_kosmos.txt › 多模态 › Kosmos-1" in chat[1]["content"]
    assert chat[3]["content"] == reply_markdown("笔记里没有找到这个问题的答案。", "in English", True)
    assert chat[3]["content"].startswith("ℹ️ *in English*\n\n🔎 ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(settings: Settings, service: FakeService) -> Iterator[Any]:
    """The real UI and API server (in this process) over canned answers; yields a gradio client."""
    from gradio_client import Client

    from ui.app import launch

    server = launch(settings.model_copy(update={"port": _free_port()}), block=False, backend=service)  # type: ignore[arg-type]
    client = None
    try:
        client = Client(server.url, verbose=False)
        yield client
    finally:
        if client is not None:
            client.close()  # its open event stream would hold up the server's shutdown
        server.close()


@pytest.fixture()
def ui_settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", corpus_dir=tmp_path / "notes")


def _ask(client: Any, question: str) -> list[dict[str, Any]]:
    chat, _sources, _box = client.predict(question, [], 3, True, "qwen2.5-coder-1.5b", [], "notes",
                                          api_name="/respond")
    return chat


def test_turns_are_saved_and_a_conversation_is_continued_after_a_restart(ui_settings: Settings) -> None:
    store = ChatStore.for_settings(ui_settings)
    first = FakeService()
    with served(ui_settings, first) as client:
        _ask(client, "Kosmos-1 有多少参数?")
        [conv] = store.list()
        assert conv.turn_count == 1  # saved as soon as the answer is shown
        chat = _ask(client, "它是哪一年发布的?")
        assert "1.3B" in str(chat[-1]["content"])
    assert first.calls[1][2] == [("Kosmos-1 有多少参数?", "Kosmos-1 有 1.3B 参数。 [1]")]  # the follow-up's history
    saved = store.get(conv.id)
    assert [t.question for t in saved.turns] == ["Kosmos-1 有多少参数?", "它是哪一年发布的?"]
    assert saved.turns[0].citations == [CITE] and saved.turns[0].model == "fake.gguf"

    second = FakeService(abstained())  # a restart: a new server over the same data dir
    with served(ui_settings, second) as client:
        chat, sources, _box, title, _msg = client.predict(conv.id, "notes", api_name="/open_conversation")
        assert [m["role"] for m in chat] == ["user", "assistant"] * 2 and title == "Kosmos-1 有多少参数?"
        assert "001_kosmos.txt" in sources and "<mark>" in sources
        chat = _ask(client, "那它的作者呢?")
        assert "🔎" in str(chat[-1]["content"])
        assert second.calls[0][2] == saved.history()  # continued with the stored history
        assert store.get(conv.id).turn_count == 3

        _selected, msg = client.predict("Kosmos 笔记", api_name="/rename_conversation")
        assert "renamed" in msg and store.get(conv.id).title == "Kosmos 笔记"
        client.predict(api_name="/delete_conversation")
        assert store.list() == []


def test_a_new_chat_starts_a_new_conversation(ui_settings: Settings) -> None:
    store = ChatStore.for_settings(ui_settings)
    with served(ui_settings, FakeService()) as client:
        _ask(client, "Kosmos-1 有多少参数?")
        client.predict(api_name="/start_new_chat")  # 🆕 New chat
        _ask(client, "投机解码的本质是什么?")
    assert sorted(c.title for c in store.list()) == ["Kosmos-1 有多少参数?", "投机解码的本质是什么?"]


@pytest.mark.browser
def test_thumbs_up_and_down_in_the_browser_are_stored_on_the_turn(ui_settings: Settings) -> None:
    from tests.ui.test_app import chromium
    from ui.app import launch

    store = ChatStore.for_settings(ui_settings)
    server = launch(ui_settings.model_copy(update={"port": _free_port()}), block=False, backend=FakeService())  # type: ignore[arg-type]
    try:
        with chromium(server.url, height=900) as page:
            page.locator("#question textarea").fill("Kosmos-1 有多少参数?")
            page.locator("#ask").click()
            page.wait_for_selector("#sources .cited")
            [conv] = store.list()

            def rating() -> int | None:
                return store.get(conv.id).turns[0].rating

            page.locator("#chat button[aria-label=Like]").last.click()
            page.wait_for_function("document.body.innerText.includes('thanks, noted')")
            assert rating() == 1
            page.locator("#chat button[aria-label=Liked]").last.click()  # a second click takes it back
            page.wait_for_function("document.body.innerText.includes('rating removed')")
            assert rating() is None
            page.locator("#chat button[aria-label=Dislike]").last.click()
            page.wait_for_timeout(500)
            for _ in range(20):
                if rating() == -1:
                    break
                page.wait_for_timeout(250)
            assert rating() == -1

            page.reload()  # a reopened conversation's answers can be rated too
            page.locator("#conversations label").first.click()
            page.wait_for_function("document.querySelector('#chat').innerText.includes('1.3B')")
            page.locator("#chat button[aria-label=Like]").last.click()
            page.wait_for_function("document.body.innerText.includes('thanks, noted')")
            assert rating() == 1
    finally:
        server.close()
