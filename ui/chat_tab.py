"""The chat tab and the conversations sidebar: an answer streamed into the chat (the quote from the notes first,
then the folded reasoning and the answer), the sources panel, stored conversations (open, continue, rename,
delete) and 👍/👎 ratings of answers.

The handlers are plain functions of explicit state (the ``ui.backend.Backend``, the ``ui.chats.ChatStore``) that
return plain values, so they are tested without Gradio; :func:`build_sidebar` and :func:`build_chat_tab` lay out
the components and wire the handlers to them.
"""

from __future__ import annotations

import contextlib
import html
import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ingest.loaders import NotesError
from ingest.store import IndexCorruptError, IndexMissingError
from notesqa.settings import Settings, UnknownKnowledgeBaseError
from rag.guard import QuestionError
from rag.llm import ModelFileError
from rag.scope import Scope, ScopeError
from rag.turn import Answer, Event, EventKind
from ui.backend import Backend, model_choices
from ui.chats import ChatNotFoundError, ChatStore, ChatStoreError
from ui.render import (
    REASONING_TITLE,
    esc,
    evidence_html,
    evidence_markdown,
    reply_markdown,
    restored_chat,
    sources_html,
)

log = logging.getLogger(__name__)

EXAMPLES = [
    "什么是思维链(Chain of Thought)?",
    "Hugging Face 是哪一年在哪里创办的?",
    "投机解码的本质是什么?",
    "What is speculative decoding?",
]
"""Questions a first-time user can click (about the default corpus)."""

ANSWER_ERRORS = (QuestionError, IndexMissingError, IndexCorruptError, ModelFileError, NotesError, ScopeError,
                 UnknownKnowledgeBaseError)
"""Problems that end an answer with their message in the chat (a refused question, no or a damaged index, a
missing model file, an unreadable notes folder, a scope that holds no note, a knowledge base no longer
configured)."""

SAVE_ERRORS = (ChatStoreError, ChatNotFoundError, OSError, sqlite3.Error)
"""Problems saving a finished turn: the answer is still shown, marked as not saved."""


class ChatView(NamedTuple):
    """What the chat shows: the outputs every chat handler updates, in this order."""

    chat: list[dict[str, Any]]
    """The chat messages (``{"role", "content"}``, the reasoning with ``metadata``)."""
    sources: str
    """The sources panel (HTML)."""
    history: list[list[str]]
    """The conversation's (question, answer) pairs, which follow-up questions are answered with."""
    question: str
    """The question box (emptied once a question is asked)."""
    conversation: str | None
    """The id of the stored conversation being continued (None: a new one, created with its first turn)."""
    turn_ids: dict[int, int]
    """Chat message index -> stored turn id, for the answers that can be rated."""


def empty_view() -> ChatView:
    """An empty chat; its first finished turn starts a new conversation."""
    return ChatView([], "", [], "", None, {})


def open_chat_store(settings: Settings) -> tuple[ChatStore | None, str]:
    """The conversations store, or None and the warning the sidebar shows (the chat still works, it is just not
    kept)."""
    try:
        return ChatStore.for_settings(settings), ""
    except (ChatStoreError, OSError) as exc:
        log.warning("conversations are not saved: %s", exc)
        return None, f"⚠️ {html.escape(str(exc))} — conversations are not saved."


# --- answering ----------------------------------------------------------------------------------------------------
class _Turn:
    """The chat messages of the question being answered, filled in as the answer streams: the quote from the
    notes, the folded reasoning (when shown) and the reply; plus the sources panel."""

    def __init__(self, chat: list[dict[str, Any]], message: str, show_reasoning: bool):
        self.chat = [*chat, {"role": "user", "content": esc(message or "")}]
        self.show_reasoning = show_reasoning
        self.quote: dict[str, Any] = {"role": "assistant", "content": ""}
        self.thought: dict[str, Any] = {
            "role": "assistant",
            "content": "",
            "metadata": {"title": REASONING_TITLE, "status": "pending"},
        }
        self.reply: dict[str, Any] = {"role": "assistant", "content": ""}
        self.panel = ""

    def messages(self) -> list[dict[str, Any]]:
        shown = [self.quote] if self.quote["content"] else []
        shown += [self.thought] if self.show_reasoning and self.thought["content"] else []
        return [*self.chat, *shown, self.reply]

    def show(self, event: Event) -> bool:
        """Fold a streamed event into the messages; False for the kinds the chat does not show (status,
        notice)."""
        if event.kind == EventKind.EVIDENCE and event.evidence:
            self.quote["content"] = evidence_markdown(event.evidence)
            self.panel = evidence_html(event.evidence)
        elif event.kind == EventKind.REASONING:
            self.thought["content"] += esc(event.text)
        elif event.kind in (EventKind.ANSWER, EventKind.REPLACE):
            if self.reply["content"].startswith("⏳") or event.kind == EventKind.REPLACE:
                self.reply["content"] = ""  # the queue notice, or a draft the check rewrote
            self.reply["content"] += esc(event.text)
        else:
            return False
        return True

    def finish(self, final: Answer) -> None:
        """The checked answer replaces the streamed draft; the reasoning folds, with how long it all took."""
        self.thought["metadata"]["status"] = "done"
        self.thought["content"] = esc(final.reasoning) or self.thought["content"]
        self.reply["content"] = reply_markdown(final.answer, final.notice, final.abstained)
        self.thought["metadata"]["duration"] = round(final.timings.get("total") or 0, 1)


def stream_answer(
    backend: Backend,
    store: ChatStore | None,
    message: str,
    chat: list[dict[str, Any]],
    history: list[list[str]],
    passages: int,
    show_reasoning: bool,
    model: str,
    conversation: str | None,
    turn_ids: dict[int, int],
    scope: list[str] | None = None,
    kb: str | None = None,
) -> Iterator[ChatView]:
    """Answer one question with ``model`` from ``passages`` passages of knowledge base ``kb`` (the first when
    ``None``), only from the notes in ``scope`` (folders and ``#tags``; all when empty), as the chat updates
    while it streams. The finished turn is saved to the
    conversation (created with the first turn) before the last update, which carries the answer's sources."""
    turn = _Turn(chat, message, show_reasoning)
    try:
        answerer = backend.answerer(model, passages, kb)
        waiting = answerer.waiting
        if waiting:
            turn.reply["content"] = f"⏳ 排队中，前面还有 {waiting} 个问题 / queued: {waiting} ahead of you"
        yield ChatView(turn.messages(), "", history, "", conversation, turn_ids)
        final = None
        for item in answerer.stream(message, [tuple(p) for p in history], Scope.from_items(scope or ())):
            if isinstance(item, Answer):
                final = item
            elif isinstance(item, Event) and turn.show(item):
                yield ChatView(turn.messages(), turn.panel, history, "", conversation, turn_ids)
    except ANSWER_ERRORS as exc:
        turn.reply["content"] = f"⚠️ {html.escape(str(exc))}"
        yield ChatView(turn.messages(), "", history, "", conversation, turn_ids)
        return
    assert final is not None
    turn.finish(final)
    history = [*history, [message, final.answer]]
    try:
        conversation, turn_id = save_turn(store, conversation, final, model)
        if turn_id is not None:  # the reply can be rated: it is the chat's last message
            turn_ids = {**turn_ids, len(turn.messages()) - 1: turn_id}
    except SAVE_ERRORS as exc:
        turn.reply["content"] += f"\n\n⚠️ 未保存 / not saved: {html.escape(str(exc))}"
    index = answerer.handle.get()
    panel = sources_html(final, index.note_text, index.link)
    yield ChatView(turn.messages(), panel, history, "", conversation, turn_ids)


def scope_choices(backend: Backend, kb: str | None = None) -> list[str]:
    """The folders and ``#tags`` a question to knowledge base ``kb`` can be narrowed to (none without a usable
    index)."""
    try:
        return Scope.choices(backend.index(kb).get().tags_by_note())
    except (IndexMissingError, IndexCorruptError, OSError):
        return []


def save_turn(
    store: ChatStore | None, conversation: str | None, final: Answer, model: str
) -> tuple[str | None, int | None]:
    """Commit a finished turn (creating the conversation with its first one); returns the conversation's id and
    the turn's (both None when conversations are not kept)."""
    if store is None:
        return None, None
    if conversation is None:
        conversation = store.create().id
    turn = store.append_turn(
        conversation,
        final.question,
        final.answer,
        abstained=final.abstained,
        reason=final.reason,
        reasoning=final.reasoning,
        notice=final.notice,
        model=final.model or model,
        lang=final.lang,
        citations=final.citations,
        evidence=final.evidence,
    )
    return conversation, turn.id


# --- ratings and stored conversations -----------------------------------------------------------------------------
def rate_answer(
    store: ChatStore | None, store_problem: str, turn_ids: dict[int, int], index: Any, value: Any, liked: Any
) -> str:
    """👍/👎 on an answer (a like event's ``index``, ``value`` and ``liked``): stored on its turn at once; a quote or
    the reasoning is not rated. Returns what the sidebar says."""
    # the event names the first message of the rated group of assistant messages (quote, reasoning, answer)
    # and carries their contents: the answer is the group's last message
    first = index[0] if isinstance(index, list | tuple) else index
    size = len(value) if isinstance(value, list) else 1
    turn_id = turn_ids.get(int(first) + size - 1)
    if store is None or turn_id is None:
        return "只能评价答案 / only answers can be rated" if store is not None else store_problem
    rating = 1 if liked is True else -1 if liked is False else None
    try:
        store.rate(turn_id, rating)
    except (ChatNotFoundError, sqlite3.Error) as exc:
        return f"⚠️ {html.escape(str(exc))}"
    return {1: "👍 已记录 / thanks, noted", -1: "👎 已记录 / thanks, noted", None: "评价已取消 / rating removed"}[
        rating
    ]


def conversation_choices(
    store: ChatStore | None, selected: str | None = None
) -> tuple[list[tuple[str, str]], str | None]:
    """The sidebar's conversations as (label, id), newest first, and ``selected`` if it is one of them."""
    if store is None:
        return [], None
    choices = [(c.label, c.id) for c in store.list()]
    return choices, selected if selected in {i for _, i in choices} else None


def _note_text(backend: Backend, kb: str | None = None) -> Callable[[str], str]:
    """``Index.note_text`` of knowledge base ``kb``'s loaded index, a damaged index reading as an unreadable
    note."""

    def note_text(source: str) -> str:
        try:
            return backend.index(kb).get().note_text(source)
        except IndexCorruptError as exc:  # shown as "not readable any more", like a deleted note
            raise ValueError(str(exc)) from exc

    return note_text


def load_conversation(backend: Backend, store: ChatStore | None, conversation: str | None,
                      kb: str | None = None) -> tuple[ChatView, str, str]:
    """Continue a stored conversation: its turns in the chat, its history for follow-ups, the latest answer's
    sources in the panel. Returns the chat, the conversation's title and what the sidebar says."""
    if store is None or not conversation:
        return empty_view(), "", ""
    try:
        c = store.get(conversation)
    except ChatNotFoundError:
        return empty_view(), "", "⚠️ 这个对话已被删除 / this conversation was deleted"
    panel = ""
    if c.turns:
        last = c.turns[-1]
        panel = sources_html(
            Answer(question=last.question, answer=last.answer, citations=last.citations), _note_text(backend, kb),
            lambda source: backend.link(source, kb),
        )
    turn_ids = {2 * i + 1: t.id for i, t in enumerate(c.turns)}  # restored_chat: question, answer, ...
    return ChatView(restored_chat(c), panel, [list(p) for p in c.history()], "", c.id, turn_ids), c.title, ""


def retitle_conversation(store: ChatStore | None, conversation: str | None, title: str) -> str:
    """Rename a conversation; returns what the sidebar says."""
    if store is None or not conversation:
        return "先选择一个对话 / choose a conversation first"
    try:
        store.rename(conversation, title)
    except (ValueError, ChatNotFoundError) as exc:
        return f"⚠️ {html.escape(str(exc))}"
    return "✅ 已重命名 / renamed"


def remove_conversation(store: ChatStore | None, conversation: str | None) -> str:
    """Delete a conversation (one already gone is no error); returns what the sidebar says."""
    if store is not None and conversation:
        with contextlib.suppress(ChatNotFoundError):
            store.delete(conversation)
    return "🗑️ 已删除 / deleted" if conversation else ""


# --- layout and wiring --------------------------------------------------------------------------------------------
class Sidebar(NamedTuple):
    """The conversations sidebar, and the state of the conversation being continued."""

    conversation: Any
    """gr.State: the id of the conversation being continued (None: a new one)."""
    turn_ids: Any
    """gr.State: chat message index -> stored turn id, for rating answers."""
    conversations: Any
    title: Any
    rename: Any
    delete: Any
    message: Any


def build_sidebar(store: ChatStore | None, store_problem: str) -> Sidebar:
    """The conversations sidebar (inside a ``gr.Blocks``); :func:`build_chat_tab` wires it."""
    import gradio as gr

    conversation = gr.State(None)
    turn_ids = gr.State({})
    with gr.Sidebar(label="对话 / Conversations", open=True):
        gr.Markdown("### 💬 对话 / Conversations")
        conversations = gr.Radio(
            choices=conversation_choices(store)[0], label="继续对话 / continue a conversation", elem_id="conversations"
        )
        title = gr.Textbox(
            label="标题 / title", placeholder="选中的对话 / the selected conversation", elem_id="conversation-title"
        )
        with gr.Row():
            rename = gr.Button("✏️ 重命名 / Rename", size="sm", elem_id="rename-conversation")
            delete = gr.Button("🗑️ 删除 / Delete", size="sm", variant="stop", elem_id="delete-conversation")
        message = gr.Markdown(store_problem)
    return Sidebar(conversation, turn_ids, conversations, title, rename, delete, message)


def build_chat_tab(
    demo: Any,
    settings: Settings,
    backend: Backend,
    store: ChatStore | None,
    store_problem: str,
    sidebar: Sidebar,
    kb: Any = None,
) -> Any:
    """The chat tab (inside ``demo``), wired to the handlers above, to the ``sidebar`` and to the knowledge base
    dropdown ``kb`` (none: the first knowledge base). The functions here only bind this app's state to them
    and turn their values into Gradio updates; their names are the API's. Returns the folder/tag selector."""
    import gradio as gr

    with gr.Tab("问答 / Chat"):
        chatbot = gr.Chatbot(
            label="对话 / conversation", height=460, sanitize_html=True, buttons=["copy"], elem_id="chat"
        )
        with gr.Row():
            box = gr.Textbox(
                placeholder="问一个关于笔记的问题… / Ask about your notes…",
                show_label=False,
                scale=6,
                elem_id="question",
            )
            send = gr.Button("提问 / Ask", variant="primary", scale=1, elem_id="ask")
        with gr.Row():
            new_chat = gr.Button("🆕 新对话 / New chat", size="sm")
        gr.Examples(EXAMPLES, inputs=box, label="示例 / examples")
        sources = gr.HTML(elem_id="sources")
        with gr.Accordion("设置 / Settings", open=False):
            passages = gr.Slider(
                1, 5, value=settings.context_passages, step=1, label="提示中的段落数 / passages given to the model"
            )
            show_reasoning = gr.Checkbox(value=True, label="显示思考过程 / show reasoning")
            # its choices are filled when it gets the focus: building the page loads no index
            scope = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True,
                                label="只在这些文件夹 / #标签中搜索 / search only in these folders / #tags",
                                elem_id="scope")
            choices = model_choices(settings)
            model = gr.Dropdown(
                choices=choices, value=choices[0] if settings.llm_path else settings.llm, label="模型 / model"
            )
        history = gr.State([])  # the conversation's (question, answer) pairs

    def respond(
        message: str,
        chat: list[dict[str, Any]],
        pairs: list[list[str]],
        passages: int,
        show_reasoning: bool,
        model: str,
        conv: str | None,
        turn_ids: dict[int, int],
        places: list[str],
        name: str | None = None,
    ) -> Iterator[ChatView]:
        """Answer one question, streaming into the chat; the finished turn is saved to the conversation
        (created with the first turn) before the last update is shown."""
        yield from stream_answer(backend, store, message, chat, pairs, passages, show_reasoning, model, conv, turn_ids,
                                 places, name)

    def refresh_scope(name: str | None = None) -> Any:
        """The folders and tags of the index as it is now (notes may have been added since the page opened)."""
        return gr.update(choices=scope_choices(backend, name))

    def rate(turn_ids: dict[int, int], like: gr.LikeData) -> str:
        """👍/👎 on an answer: stored on its turn at once (a quote or the reasoning is not rated)."""
        return rate_answer(store, store_problem, turn_ids, like.index, like.value, like.liked)

    # Gradio passes the like event by the parameter's type, which it cannot resolve from the postponed
    # annotation (gradio is imported in this function, not at module level)
    rate.__annotations__["like"] = gr.LikeData

    def conversation_list(selected: str | None = None) -> Any:
        """The conversations for the sidebar, newest first, with ``selected`` marked."""
        listed, value = conversation_choices(store, selected)
        return gr.update(choices=listed, value=value)

    def open_conversation(conv: str | None, name: str | None = None) -> tuple[Any, ...]:
        """Continue a stored conversation: its turns in the chat, its history for follow-ups, the latest
        answer's sources in the panel."""
        view, title, message = load_conversation(backend, store, conv, name)
        return *view, title, message

    def rename_conversation(conv: str | None, title: str) -> tuple[Any, str]:
        message = retitle_conversation(store, conv, title)
        return conversation_list(conv), message

    def delete_conversation(conv: str | None) -> tuple[Any, ...]:
        message = remove_conversation(store, conv)
        return *empty_view(), conversation_list(None), "", message

    def start_new_chat() -> tuple[Any, ...]:
        """An empty chat; its first finished turn starts a new conversation. A question already typed in the
        box stays there."""
        chat, sources, history, _question, conversation, turn_ids = empty_view()
        return chat, sources, history, gr.update(), conversation, turn_ids, gr.update(value=None), ""

    conv, turn_ids = sidebar.conversation, sidebar.turn_ids
    chosen = [kb] if kb is not None else []
    ask_inputs = [box, chatbot, history, passages, show_reasoning, model, conv, turn_ids, scope, *chosen]
    scope.focus(refresh_scope, chosen or None, scope, queue=False)
    ask_outputs = [chatbot, sources, history, box, conv, turn_ids]  # ChatView's fields
    for trigger in (send.click, box.submit):
        trigger(respond, ask_inputs, ask_outputs, concurrency_id="llm").then(
            conversation_list, conv, sidebar.conversations, queue=False
        )
    new_chat_outputs = [*ask_outputs, sidebar.conversations, sidebar.title]
    new_chat.click(start_new_chat, None, new_chat_outputs, queue=False)
    chatbot.clear(start_new_chat, None, new_chat_outputs, queue=False)
    sidebar.conversations.input(
        open_conversation, [sidebar.conversations, *chosen], [*ask_outputs, sidebar.title, sidebar.message],
        queue=False
    )
    renamed = [sidebar.conversations, sidebar.message]
    sidebar.rename.click(rename_conversation, [conv, sidebar.title], renamed, queue=False)
    sidebar.title.submit(rename_conversation, [conv, sidebar.title], renamed, queue=False)
    sidebar.delete.click(
        delete_conversation, conv, [*ask_outputs, sidebar.conversations, sidebar.title, sidebar.message], queue=False
    )
    chatbot.like(rate, turn_ids, sidebar.message, queue=False)
    demo.load(conversation_list, None, sidebar.conversations, queue=False)
    return scope
