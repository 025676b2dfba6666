"""The chat tab's handlers without Gradio: a streamed answer, saving turns, ratings and stored conversations, over
canned answers (``tests.helpers.fakes``) and a real conversations store in a temporary folder."""

from __future__ import annotations

import copy
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from notesqa.settings import Settings
from rag.guard import QuestionError
from rag.turn import Answer, Event
from tests.helpers.fakes import CITE, NOTE, QUOTE, FakeAnswerer, FakeService, abstained
from ui.chat_tab import (
    ChatView,
    conversation_choices,
    empty_view,
    load_conversation,
    open_chat_store,
    rate_answer,
    remove_conversation,
    retitle_conversation,
    save_turn,
    stream_answer,
)
from ui.chats import ChatStore
from ui.render import EVIDENCE_TITLE, REASONING_TITLE, sources_html

MODEL = "qwen2.5-coder-1.5b"


@pytest.fixture()
def store(tmp_path: Path) -> ChatStore:
    return ChatStore.for_settings(Settings(data_dir=tmp_path / "data"))


def ask(
    service: FakeService,
    store: ChatStore | None,
    question: str = "Kosmos-1 有多少参数?",
    view: ChatView | None = None,
    show_reasoning: bool = True,
    scope: list[str] | None = None,
) -> list[ChatView]:
    """Every update of one answer, as the chat showed it at that moment (the messages are updated in place)."""
    v = view or empty_view()
    updates = stream_answer(
        service,  # type: ignore[arg-type]
        store,
        question,
        v.chat,
        v.history,
        3,
        show_reasoning,
        MODEL,
        v.conversation,
        v.turn_ids,
        scope,
    )
    return [copy.deepcopy(u) for u in updates]


def test_an_answer_streams_quote_reasoning_and_draft_then_the_checked_answer_with_sources(store: ChatStore) -> None:
    views = ask(FakeService(), store)
    assert len(views) == 7  # the question, then one update per shown event (not the status), then the answer
    first = views[0]
    assert first.chat == [{"role": "user", "content": "Kosmos-1 有多少参数?"}, {"role": "assistant", "content": ""}]
    assert first.sources == "" and first.question == "" and first.conversation is None

    quoted = views[1]
    assert quoted.chat[1]["content"].startswith(f"**{EVIDENCE_TITLE}**") and QUOTE.text in quoted.chat[1]["content"]
    assert "<mark>" in quoted.sources and "evidence" in quoted.sources  # the quote, highlighted, while it streams

    thinking = views[3].chat[2]
    assert thinking["metadata"] == {"title": REASONING_TITLE, "status": "pending"}
    assert thinking["content"] == "段落[1]说：1.3 B"
    assert views[5].chat[-1]["content"] == "DRAFT 根据段落，1.3B"

    done = views[-1]
    assert [m["role"] for m in done.chat] == ["user", "assistant", "assistant", "assistant"]
    assert done.chat[-1]["content"] == "Kosmos-1 有 1.3B 参数。 [1]"  # the checked answer replaces the draft
    assert done.chat[2]["metadata"]["status"] == "done" and done.chat[2]["metadata"]["duration"] == 0
    assert "class='cited'" in done.sources and "001_kosmos.txt" in done.sources
    assert done.history == [["Kosmos-1 有多少参数?", "Kosmos-1 有 1.3B 参数。 [1]"]]

    [conv] = store.list()
    assert done.conversation == conv.id and conv.title == "Kosmos-1 有多少参数?"
    [turn] = store.get(conv.id).turns
    assert done.turn_ids == {3: turn.id}  # the answer, the chat's last message, can be rated
    assert turn.citations == [CITE] and turn.model == "fake.gguf"


def test_a_follow_up_is_answered_with_the_history_and_saved_in_the_same_conversation(store: ChatStore) -> None:
    service = FakeService()
    first = ask(service, store)[-1]
    second = ask(service, store, "它是哪一年发布的?", view=first)[-1]
    assert service.calls[1][2] == [("Kosmos-1 有多少参数?", "Kosmos-1 有 1.3B 参数。 [1]")]
    assert second.conversation == first.conversation and len(second.history) == 2
    [conv] = store.list()
    turns = store.get(conv.id).turns
    assert second.turn_ids == {3: turns[0].id, 7: turns[1].id}


def test_hidden_reasoning_and_user_text_are_escaped(store: ChatStore) -> None:
    done = ask(FakeService(), store, "<img src=x onerror=alert(1)>", show_reasoning=False)[-1]
    assert done.chat[0]["content"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert REASONING_TITLE not in str(done.chat) and len(done.chat) == 3


def test_a_queued_question_says_so_until_the_answer_starts(store: ChatStore) -> None:
    class Busy(FakeService):
        def answerer(self, model: str | None = None, passages: int | None = None,
                     kb: str | None = None) -> FakeAnswerer:
            answerer = super().answerer(model, passages)
            answerer.waiting = 2
            return answerer

    views = ask(Busy(), store)
    assert views[0].chat[-1]["content"].startswith("⏳") and "2 ahead" in views[0].chat[-1]["content"]
    assert views[3].chat[-1]["content"].startswith("⏳")  # the quote and the reasoning do not replace it
    assert views[4].chat[-1]["content"] == "DRAFT 根据段落，"


def test_a_replaced_draft_and_unshown_events(store: ChatStore) -> None:
    final = Answer(question="q", answer="In English.", notice="translated")
    items = [Event("answer", "中文"), Event("notice", "translated"), Event("replace", "In English."), final]
    views = ask(FakeService(items), store, "q")
    assert [v.chat[-1]["content"] for v in views] == ["", "中文", "In English.", "ℹ️ *translated*\n\nIn English."]


def test_an_abstention_is_marked_and_lists_the_passages_searched(store: ChatStore) -> None:
    hit = {
        "source": "001_kosmos.txt",
        "chunk_id": "c7",
        "text": "1.3 B",
        "start": 90,
        "end": 140,
        "title": "K",
        "headings": [],
    }
    [only] = abstained("why")
    answer = Answer(question="why", answer=only.answer, abstained=True, reason="gate", retrieved=[hit])
    done = ask(FakeService([answer]), store, "why")[-1]
    assert done.chat[-1]["content"].startswith("🔎 ")
    assert "passages searched" in done.sources and "[1] 001_kosmos.txt" in done.sources


def test_an_error_is_shown_in_the_chat_and_nothing_is_saved(store: ChatStore) -> None:
    views = ask(FakeService(error=QuestionError("The question is <too> long.")), store)
    assert views[-1].chat[-1]["content"] == "⚠️ The question is &lt;too&gt; long."
    assert views[-1].sources == "" and views[-1].conversation is None and store.list() == []


def test_the_chosen_folders_and_tags_scope_the_question(store: ChatStore) -> None:
    from rag.scope import Scope, ScopeError

    service = FakeService()
    ask(service, store, scope=["papers/", "#rag"])
    ask(service, store)
    assert service.scopes == [Scope(("papers/",), ("rag",)), None]
    views = ask(FakeService(error=ScopeError("No note of the index is in nope/")), store, scope=["nope/"])
    assert views[-1].chat[-1]["content"] == "⚠️ No note of the index is in nope/"


def test_without_a_store_the_chat_works_and_keeps_nothing() -> None:
    done = ask(FakeService(), None)[-1]
    assert done.conversation is None and done.turn_ids == {} and "1.3B" in done.chat[-1]["content"]
    assert save_turn(None, None, Answer(question="q", answer="a"), MODEL) == (None, None)


def test_a_turn_that_cannot_be_saved_is_still_shown(store: ChatStore) -> None:
    class Broken(ChatStore):
        def append_turn(self, *args: Any, **kwargs: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

    done = ask(FakeService(), Broken(store.path))[-1]
    assert done.chat[-1]["content"].endswith("⚠️ 未保存 / not saved: disk I/O error") and done.turn_ids == {}


def test_an_unusable_store_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be", encoding="utf-8")
    store, problem = open_chat_store(Settings(data_dir=tmp_path / "data"))
    assert store is None and problem.startswith("⚠️") and "not saved" in problem
    assert rate_answer(None, problem, {3: 1}, 1, ["q", "r", "a"], True) == problem


def test_only_answers_are_rated_and_a_rating_can_be_taken_back(store: ChatStore) -> None:
    done = ask(FakeService(), store)[-1]
    [turn_id] = done.turn_ids.values()

    def rating() -> int | None:
        return store.get(done.conversation).turns[0].rating  # type: ignore[arg-type]

    # the like event names the group's first message (the quote) and carries the group: quote, reasoning, answer
    assert rate_answer(store, "", done.turn_ids, [1], ["quote", "reasoning", "answer"], True).startswith("👍")
    assert rating() == 1
    assert rate_answer(store, "", done.turn_ids, 3, "answer", None) == "评价已取消 / rating removed"
    assert rating() is None
    assert rate_answer(store, "", done.turn_ids, (1, None), ["quote", "reasoning", "answer"], False).startswith("👎")
    assert rating() == -1
    assert "only answers" in rate_answer(store, "", done.turn_ids, 0, "question", True)
    store.delete(done.conversation)  # type: ignore[arg-type]
    assert rate_answer(store, "", {3: turn_id}, 3, "answer", True).startswith("⚠️")


def test_a_stored_conversation_is_listed_opened_renamed_and_deleted(store: ChatStore) -> None:
    service = FakeService()
    first = ask(service, store)[-1]
    assert conversation_choices(store) == ([(store.list()[0].label, first.conversation)], None)
    assert conversation_choices(store, first.conversation)[1] == first.conversation
    assert conversation_choices(store, "gone")[1] is None and conversation_choices(None, "x") == ([], None)

    view, title, message = load_conversation(service, store, first.conversation)  # type: ignore[arg-type]
    assert title == "Kosmos-1 有多少参数?" and message == ""
    assert [m["role"] for m in view.chat] == ["user", "assistant"] and "- [1] 001_kosmos.txt" in view.chat[1]["content"]
    assert view.history == first.history and view.conversation == first.conversation
    assert view.turn_ids == {1: first.turn_ids[3]}  # restored: question, answer
    assert "class='cited'" in view.sources and "<mark>" in view.sources and NOTE[:20] in view.sources
    assert "href='obsidian://open?vault=v&amp;file=001_kosmos.txt'" in view.sources  # as when it was answered

    assert retitle_conversation(store, first.conversation, "Kosmos 笔记") == "✅ 已重命名 / renamed"
    assert store.get(first.conversation).title == "Kosmos 笔记"  # type: ignore[arg-type]
    assert retitle_conversation(store, first.conversation, "  ").startswith("⚠️")
    assert "choose a conversation" in retitle_conversation(store, None, "x")

    assert remove_conversation(store, first.conversation) == "🗑️ 已删除 / deleted" and store.list() == []
    assert remove_conversation(store, first.conversation) == "🗑️ 已删除 / deleted"  # already gone: no error
    assert remove_conversation(store, None) == ""
    gone = load_conversation(service, store, first.conversation)  # type: ignore[arg-type]
    assert gone == (empty_view(), "", "⚠️ 这个对话已被删除 / this conversation was deleted")
    assert load_conversation(service, None, "x") == (empty_view(), "", "")  # type: ignore[arg-type]


def test_a_reopened_answer_whose_note_is_gone_or_index_damaged_still_shows_its_passage(store: ChatStore) -> None:
    from ingest.store import IndexCorruptError

    first = ask(FakeService(), store)[-1]
    moved = FakeService()
    moved.handle.index.notes.clear()  # the note was deleted since
    view, _title, _message = load_conversation(moved, store, first.conversation)  # type: ignore[arg-type]
    assert "note not readable any more" in view.sources and "1.3 B" in view.sources

    class Damaged:
        def get(self) -> Any:
            raise IndexCorruptError("The index is damaged.")

    damaged = FakeService()
    damaged.handle = Damaged()  # type: ignore[assignment]
    view, _title, _message = load_conversation(damaged, store, first.conversation)  # type: ignore[arg-type]
    assert "note not readable any more" in view.sources


def test_a_cited_passage_is_shown_with_its_quote_marked_and_inert() -> None:
    cite = replace(CITE, source="a<b>.md", text="<script>x</script>", start=0, end=18, spans=((8, 9),))
    out = sources_html(Answer(question="q", answer="a", citations=[cite]), lambda s: "<script>x</script>")
    assert "<script>" not in out and "[1] a&lt;b&gt;.md" in out and "多模态 › Kosmos-1" in out
    assert "chars 0–18" in out and "&lt;script&gt;<mark>x</mark>&lt;/script&gt;" in out
    assert sources_html(None, str) == "" and sources_html(Answer(question="q", answer="a"), str) == ""


def test_a_source_says_its_lines_and_links_into_its_vault() -> None:
    cite = replace(CITE, lines=(12, 14))
    out = sources_html(Answer(question="q", answer="a", citations=[cite]), lambda s: NOTE,
                       lambda source: f"obsidian://open?vault=V&file={source}&x='y'")
    assert "lines 12–14" in out and "chars" not in out
    assert "href='obsidian://open?vault=V&amp;file=001_kosmos.txt&amp;x=&#x27;y&#x27;'" in out
    single = sources_html(Answer(question="q", answer="a", citations=[replace(CITE, lines=(3, 3))]), lambda s: NOTE)
    assert "line 3 " in single or "line 3<" in single
    assert "href" not in single
