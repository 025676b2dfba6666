"""Gradio chat UI: streamed cited answers, folded reasoning, sources, notes management (no retrieval logic)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from notesqa.settings import Settings
from ui.backend import Backend, model_choices
from ui.render import (
    REASONING_TITLE,
    esc,
    evidence_html,
    evidence_markdown,
    reply_markdown,
    restored_chat,
    sources_html,
)

EXAMPLES = [
    "什么是思维链(Chain of Thought)?",
    "Hugging Face 是哪一年在哪里创办的?",
    "投机解码的本质是什么?",
    "What is speculative decoding?",
]
"""Questions a first-time user can click (about the default corpus)."""

CSS = """
.src{border:1px solid var(--border-color-primary);border-radius:8px;padding:.5rem .8rem;margin:.4rem 0}
.src .meta{font-size:.85em;opacity:.8} .src .passage{white-space:pre-wrap;margin:.3rem 0}
.src mark{background:#ffe58f;color:inherit;padding:0 .1em} .src pre{white-space:pre-wrap;font-size:.85em}
.searched{opacity:.85} .evidence .passage{font-size:1.05em}
"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(settings: Settings, backend: Backend | None = None) -> Any:
    """The Gradio Blocks app. Everything it does goes through ``rag.Answerer`` and ``ingest``; ``backend``
    holds the index and answerers (shared with the API when both are served)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from ingest.loaders import NotesError
    from ingest.notes import add_note, list_notes, retire_note
    from ingest.pipeline import ingest
    from ingest.store import IndexCorruptError, IndexLockedError, IndexMissingError, IndexWriteError
    from ingest.watch import Watcher
    from rag.answer import Answer, Answerer, Event
    from rag.guard import QuestionError
    from rag.llm import ModelFileError
    from ui.chats import ChatNotFoundError, ChatStore, ChatStoreError

    backend = backend or Backend(settings)
    store: ChatStore | None = None
    try:
        store = ChatStore.for_settings(settings)
        store_problem = ""
    except (ChatStoreError, OSError) as exc:  # the chat still works; it is just not kept
        store_problem = f"⚠️ {html.escape(str(exc))} — conversations are not saved."
        logging.getLogger(__name__).warning("conversations are not saved: %s", exc)

    def answerer_for(model: str, passages: int) -> Answerer:
        return backend.answerer(model, passages)

    def index_status() -> str:
        from ingest.store import read_manifest

        try:
            m = read_manifest(settings.index_dir)
            return f"索引 / index: {len(m.files)} notes · {m.chunk_count} chunks · `{settings.index_dir}`"
        except IndexMissingError:
            return "⚠️ 还没有索引 / no index yet: open the Notes tab and press Re-ingest."
        except IndexCorruptError as exc:
            return f"⚠️ {exc}"

    def respond(
        message: str,
        chat: list[dict[str, Any]],
        pairs: list[list[str]],
        passages: int,
        show_reasoning: bool,
        model: str,
        conv: str | None,
        turn_ids: dict[int, int],
    ) -> Iterator[tuple[Any, ...]]:
        """Answer one question, streaming into the chat; the finished turn is saved to the conversation
        (created with the first turn) before the last update is shown."""
        chat = [*chat, {"role": "user", "content": esc(message or "")}]
        thought = {"role": "assistant", "content": "", "metadata": {"title": REASONING_TITLE, "status": "pending"}}
        reply = {"role": "assistant", "content": ""}
        quote = {"role": "assistant", "content": ""}
        panel = ""

        def view() -> list[dict[str, Any]]:
            shown = [quote] if quote["content"] else []
            shown += [thought] if show_reasoning and thought["content"] else []
            return [*chat, *shown, reply]

        try:
            answerer = answerer_for(model, passages)
            waiting = answerer.waiting
            if waiting:
                reply["content"] = f"⏳ 排队中，前面还有 {waiting} 个问题 / queued: {waiting} ahead of you"
            yield view(), "", pairs, "", conv, turn_ids
            final = None
            for item in answerer.stream(message, history=[tuple(p) for p in pairs]):
                if isinstance(item, Answer):
                    final = item
                elif isinstance(item, Event) and item.kind == "evidence" and item.evidence:
                    quote["content"] = evidence_markdown(item.evidence)
                    panel = evidence_html(item.evidence)
                    yield view(), panel, pairs, "", conv, turn_ids
                elif isinstance(item, Event) and item.kind == "reasoning":
                    thought["content"] += esc(item.text)
                    yield view(), panel, pairs, "", conv, turn_ids
                elif isinstance(item, Event) and item.kind in ("answer", "replace"):
                    if reply["content"].startswith("⏳") or item.kind == "replace":
                        reply["content"] = ""
                    reply["content"] += esc(item.text)
                    yield view(), panel, pairs, "", conv, turn_ids
        except (QuestionError, IndexMissingError, IndexCorruptError, ModelFileError, NotesError) as exc:
            reply["content"] = f"⚠️ {html.escape(str(exc))}"
            yield view(), "", pairs, "", conv, turn_ids
            return
        assert final is not None
        thought["metadata"]["status"] = "done"
        thought["content"] = esc(final.reasoning) or thought["content"]
        reply["content"] = reply_markdown(final.answer, final.notice, final.abstained)
        secs = final.timings.get("total") or 0
        thought["metadata"]["duration"] = round(secs, 1)
        pairs = [*pairs, [message, final.answer]]
        try:
            conv, turn_id = save_turn(conv, final, model)
            if turn_id is not None:  # the reply can be rated: it is the chat's last message
                turn_ids = {**turn_ids, len(view()) - 1: turn_id}
        except (ChatStoreError, ChatNotFoundError, OSError, sqlite3.Error) as exc:
            reply["content"] += f"\n\n⚠️ 未保存 / not saved: {html.escape(str(exc))}"
        yield view(), sources_html(final, answerer.handle.get().note_text), pairs, "", conv, turn_ids

    def save_turn(conv: str | None, final: Answer, model: str) -> tuple[str | None, int | None]:
        """Commit a finished turn (creating the conversation with its first one); returns the conversation's
        id and the turn's."""
        if store is None:
            return None, None
        if conv is None:
            conv = store.create().id
        turn = store.append_turn(
            conv,
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
        return conv, turn.id

    def rate(turn_ids: dict[int, int], like: gr.LikeData) -> str:
        """👍/👎 on an answer: stored on its turn at once (a quote or the reasoning is not rated)."""
        # the event names the first message of the rated group of assistant messages (quote, reasoning, answer)
        # and carries their contents: the answer is the group's last message
        first = like.index[0] if isinstance(like.index, list | tuple) else like.index
        size = len(like.value) if isinstance(like.value, list) else 1
        turn_id = turn_ids.get(int(first) + size - 1)
        if store is None or turn_id is None:
            return "只能评价答案 / only answers can be rated" if store is not None else store_problem
        rating = 1 if like.liked is True else -1 if like.liked is False else None
        try:
            store.rate(turn_id, rating)
        except (ChatNotFoundError, sqlite3.Error) as exc:
            return f"⚠️ {html.escape(str(exc))}"
        return {1: "👍 已记录 / thanks, noted", -1: "👎 已记录 / thanks, noted", None: "评价已取消 / rating removed"}[
            rating
        ]

    # Gradio passes the like event by the parameter's type, which it cannot resolve from the postponed
    # annotation (gradio is imported in this function, not at module level)
    rate.__annotations__["like"] = gr.LikeData

    def conversation_list(selected: str | None = None) -> Any:
        """The conversations for the sidebar, newest first, with ``selected`` marked."""
        if store is None:
            return gr.update(choices=[], value=None)
        choices = [(c.label, c.id) for c in store.list()]
        return gr.update(choices=choices, value=selected if selected in {i for _, i in choices} else None)

    def open_conversation(conv: str | None) -> tuple[Any, ...]:
        """Continue a stored conversation: its turns in the chat, its history for follow-ups, the latest
        answer's sources in the panel."""
        if store is None or not conv:
            return [], "", [], "", None, {}, "", ""
        try:
            c = store.get(conv)
        except ChatNotFoundError:
            return [], "", [], "", None, {}, "", "⚠️ 这个对话已被删除 / this conversation was deleted"
        panel = ""
        if c.turns:
            last = c.turns[-1]

            def note_text(source: str) -> str:
                try:
                    return backend.handle.get().note_text(source)
                except IndexCorruptError as exc:  # shown as "not readable any more", like a deleted note
                    raise ValueError(str(exc)) from exc

            panel = sources_html(
                Answer(question=last.question, answer=last.answer, citations=last.citations), note_text
            )
        turn_ids = {2 * i + 1: t.id for i, t in enumerate(c.turns)}  # restored_chat: question, answer, ...
        return restored_chat(c), panel, [list(p) for p in c.history()], "", c.id, turn_ids, c.title, ""

    def rename_conversation(conv: str | None, title: str) -> tuple[Any, str]:
        if store is None or not conv:
            return conversation_list(conv), "先选择一个对话 / choose a conversation first"
        try:
            store.rename(conv, title)
        except (ValueError, ChatNotFoundError) as exc:
            return conversation_list(conv), f"⚠️ {html.escape(str(exc))}"
        return conversation_list(conv), "✅ 已重命名 / renamed"

    def delete_conversation(conv: str | None) -> tuple[Any, ...]:
        if store is not None and conv:
            with contextlib.suppress(ChatNotFoundError):
                store.delete(conv)
        return [], "", [], "", None, {}, conversation_list(None), "", "🗑️ 已删除 / deleted" if conv else ""

    def notes_table() -> list[list[Any]]:
        return [[n.source, n.title, n.chunks, n.ingested] for n in list_notes(settings)]

    def reingest(progress: Any = gr.Progress()) -> tuple[str, list[list[Any]], str, Any]:  # noqa: B008
        def tick(stage: str, done: int, total: int) -> None:
            progress((done, total), desc={"files": "切分 / chunking", "chunks": "向量化 / embedding"}[stage])

        try:
            try:
                r = ingest(settings, progress=tick, lock_wait_s=30)
                msg = f"✅ {r.describe()}"
            except IndexCorruptError as exc:  # the button is how a UI user recovers: rebuild from the notes
                r = ingest(settings, progress=tick, lock_wait_s=30, rebuild=True)
                msg = f"✅ rebuilt a damaged index ({html.escape(str(exc).split(' (')[0])}): {r.describe()}"
            msg += "".join(f"\n- skipped `{html.escape(x.source)}`: {x.reason}" for x in r.skipped)
        except (NotesError, IndexLockedError, IndexCorruptError, IndexWriteError) as exc:
            msg = f"⚠️ {html.escape(str(exc))}"
        rows = notes_table()
        return msg, rows, index_status(), gr.update(choices=[r[0] for r in rows])

    def upload(files: list[Any] | None, progress: Any = gr.Progress()) -> tuple[str, Any, str, Any]:  # noqa: B008
        added, errors = [], []
        for f in files or []:
            path = f if isinstance(f, str) else f.name
            try:
                with open(path, "rb") as fh:
                    data = fh.read(int(settings.max_upload_mb * 1_000_000) + 1)
                added.append(add_note(settings, os.path.basename(path), data).name)
            except NotesError as exc:
                errors.append(f"⚠️ {html.escape(str(exc))}")
        msg, rows, status, choices = reingest(progress) if added else ("", notes_table(), index_status(), gr.update())
        head = f"Added: {', '.join(added)}\n\n" if added else ""
        return head + "\n".join(errors) + ("\n\n" + msg if msg else ""), rows, status, choices

    def delete(source: str | None, progress: Any = gr.Progress()) -> tuple[str, Any, str, Any]:  # noqa: B008
        if not source:
            return "Choose a note first. / 请先选择笔记。", notes_table(), index_status(), gr.update()
        try:
            moved = retire_note(settings, source)
        except NotesError as exc:
            return f"⚠️ {html.escape(str(exc))}", notes_table(), index_status(), gr.update()
        msg, rows, status, choices = reingest(progress)
        return f"Moved {html.escape(source)} to {html.escape(str(moved))}\n\n{msg}", rows, status, choices

    watcher = Watcher(settings)

    def toggle_watch(on: bool) -> tuple[str, Any]:
        if on:
            watcher.start()
        else:
            watcher.stop()
        state = "watching the notes folder" if on else "not watching"
        return f"👀 {state} / {'正在监视笔记文件夹' if on else '未监视'}", gr.Timer(active=on)

    def watch_log() -> tuple[str, list[list[Any]], str]:
        lines = "\n".join(f"- {html.escape(line)}" for line in reversed(watcher.lines)) or "(no changes yet)"
        return f"👀 watching / 正在监视\n\n{lines}", notes_table(), index_status()

    def warm_up() -> None:
        """Load the models in the background so the first question does not wait for them."""
        try:
            answerer = answerer_for(backend.default_model, settings.context_passages)
            answerer.warm_up()
        except Exception as exc:  # the chat will show the same problem with its own message
            logging.getLogger(__name__).warning("warm-up failed: %s", exc)

    threading.Thread(target=warm_up, daemon=True).start()

    with gr.Blocks(title="notesqa · 笔记问答") as demo:
        conv = gr.State(None)  # the id of the conversation being continued (None: a new one)
        turn_ids = gr.State({})  # chat message index -> stored turn id, for rating answers
        with gr.Sidebar(label="对话 / Conversations", open=True):
            gr.Markdown("### 💬 对话 / Conversations")
            conversations = gr.Radio(
                choices=conversation_list()["choices"],
                label="继续对话 / continue a conversation",
                elem_id="conversations",
            )
            title_box = gr.Textbox(
                label="标题 / title", placeholder="选中的对话 / the selected conversation", elem_id="conversation-title"
            )
            with gr.Row():
                rename_btn = gr.Button("✏️ 重命名 / Rename", size="sm", elem_id="rename-conversation")
                delete_conv_btn = gr.Button("🗑️ 删除 / Delete", size="sm", variant="stop", elem_id="delete-conversation")
            conv_msg = gr.Markdown(store_problem)
        gr.Markdown(
            "## 📒 笔记问答 · notesqa\n本地运行，笔记不会离开这台电脑。 / Runs locally; your notes never leave "
            "this machine."
        )
        status = gr.Markdown(index_status)  # re-read on every page load
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
                choices = model_choices(settings)
                model = gr.Dropdown(
                    choices=choices, value=choices[0] if settings.llm_path else settings.llm, label="模型 / model"
                )
            pairs = gr.State([])
        with gr.Tab("笔记 / Notes"):
            table = gr.Dataframe(
                value=notes_table,
                headers=["file", "title", "chunks", "last ingested"],
                interactive=False,
                label="知识库中的笔记 / notes in the knowledge base",
            )
            with gr.Row():
                files = gr.File(
                    file_count="multiple",
                    file_types=[".md", ".markdown", ".txt"],
                    label=f"上传笔记 / upload notes (.md/.txt, ≤ {settings.max_upload_mb} MB)",
                )
                with gr.Column():
                    reingest_btn = gr.Button("🔄 重新导入 / Re-ingest", variant="primary")
                    victim = gr.Dropdown(
                        choices=[n.source for n in list_notes(settings)], label="删除笔记 / remove a note"
                    )
                    delete_btn = gr.Button("🗑️ 删除 / Remove", variant="stop")
                    watching = gr.Checkbox(value=False, label="👀 自动导入 / watch the folder and re-ingest on change")
            summary = gr.Markdown()
            watch_md = gr.Markdown()
            ticker = gr.Timer(2.0, active=False)

        ask_inputs = [box, chatbot, pairs, passages, show_reasoning, model, conv, turn_ids]
        ask_outputs = [chatbot, sources, pairs, box, conv, turn_ids]
        for trigger in (send.click, box.submit):
            trigger(respond, ask_inputs, ask_outputs, concurrency_id="llm").then(
                conversation_list, conv, conversations, queue=False
            )

        def start_new_chat() -> tuple[Any, ...]:
            """An empty chat; its first finished turn starts a new conversation."""
            return [], "", [], "", None, {}, gr.update(value=None), ""

        new_chat.click(start_new_chat, None, [*ask_outputs, conversations, title_box], queue=False)
        chatbot.clear(start_new_chat, None, [*ask_outputs, conversations, title_box], queue=False)
        conversations.input(open_conversation, conversations, [*ask_outputs, title_box, conv_msg], queue=False)
        rename_btn.click(rename_conversation, [conv, title_box], [conversations, conv_msg], queue=False)
        title_box.submit(rename_conversation, [conv, title_box], [conversations, conv_msg], queue=False)
        delete_conv_btn.click(
            delete_conversation, conv, [*ask_outputs, conversations, title_box, conv_msg], queue=False
        )
        chatbot.like(rate, turn_ids, conv_msg, queue=False)
        demo.load(conversation_list, None, conversations, queue=False)
        reingest_btn.click(reingest, None, [summary, table, status, victim], concurrency_id="ingest")
        files.upload(upload, files, [summary, table, status, victim], concurrency_id="ingest")
        delete_btn.click(delete, victim, [summary, table, status, victim], concurrency_id="ingest")
        watching.change(toggle_watch, watching, [watch_md, ticker], queue=False)
        ticker.tick(watch_log, None, [watch_md, table, status], queue=False)
    demo.queue(default_concurrency_limit=1)
    return demo


class Server:
    """The UI and the API on one address: a uvicorn server in this process, its socket bound at creation (so
    a port in use is an ``OSError`` here, not a log line later)."""

    def __init__(self, app: Any, host: str, port: int):
        import socket

        import uvicorn

        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ]
        self.socket = socket.socket(family, kind, proto)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(addr)
        except OSError:
            self.socket.close()
            raise
        self.port = self.socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self.on_stop: list[Any] = []
        """Called in the event loop as shutdown begins (e.g. to end the UI's open event streams)."""
        hooks = self.on_stop

        class _Uvicorn(uvicorn.Server):
            async def shutdown(self, sockets: Any = None) -> None:
                for hook in hooks:
                    hook()
                await super().shutdown(sockets)

        self.server = _Uvicorn(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Serve in this thread until Ctrl+C or SIGTERM."""
        self.server.run(sockets=[self.socket])

    def start(self, timeout_s: float = 60.0) -> Server:
        """Serve from a background thread; returns once requests are accepted."""
        import time

        self._thread = threading.Thread(target=self.serve, daemon=True, name="notesqa-server")
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        """Stop serving (waits for the background thread)."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.socket.close()


def check_exposure(settings: Settings) -> None:
    """Refuse an address other than loopback unless both the UI (``NOTESQA_AUTH``) and the API
    (``NOTESQA_API_KEY``) are protected."""
    if is_loopback(settings.host):
        return
    if not settings.auth:
        raise PermissionError(
            f"Refusing to serve on {settings.host} without a password: set NOTESQA_AUTH=user:password "
            "(or keep NOTESQA_HOST=127.0.0.1)."
        )
    if not settings.api_key:
        raise PermissionError(
            f"Refusing to serve the API on {settings.host} without a key: set NOTESQA_API_KEY to a long random "
            "string (clients send it as 'Authorization: Bearer <key>'), or keep NOTESQA_HOST=127.0.0.1."
        )


def launch(settings: Settings, *, block: bool = True, backend: Backend | None = None) -> Server:
    """Serve the UI at ``/`` and the OpenAI-compatible API at ``/v1`` on ``settings.host:port``, one process
    and one model queue (loopback by default; other addresses require ``auth`` and ``api_key``). With
    ``block=False`` the server runs in a background thread and is returned started. ``backend`` replaces the
    models and index (tests)."""
    check_exposure(settings)
    auth = tuple(settings.auth.split(":", 1)) if settings.auth else None
    if auth is not None and len(auth) != 2:
        raise ValueError("NOTESQA_AUTH must look like user:password")
    import gradio as gr

    from ui.api import create_api
    from ui.chats import ChatStore, ChatStoreError

    backend = backend or Backend(settings)
    try:
        store: ChatStore | None = ChatStore.for_settings(settings)
    except (ChatStoreError, OSError):  # the UI says so; /v1/feedback answers 503
        store = None
    api = create_api(backend, api_key=settings.api_key, loopback=is_loopback(settings.host), store=store)
    server = Server(api, settings.host, settings.port)  # bound before the models start loading
    demo = build_app(settings, backend)
    gr.mount_gradio_app(
        api,
        demo,
        path="/",
        server_name=settings.host,
        server_port=server.port,
        auth=auth,
        show_error=True,
        footer_links=[],
        css=CSS,
        ssr_mode=False,
    )
    for ui_app in (getattr(route, "app", None) for route in api.routes):
        if isinstance(getattr(ui_app, "stop_event", None), asyncio.Event):  # end the browsers' heartbeat streams
            server.on_stop.append(ui_app.stop_event.set)  # type: ignore[union-attr]
    if block:
        server.serve()
        return server
    return server.start()
