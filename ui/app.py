"""Gradio chat UI: streamed cited answers, folded reasoning, sources, notes management (no retrieval logic)."""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from notesqa.settings import Settings

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

REASONING_TITLE = "思考过程 / reasoning"
EVIDENCE_TITLE = "📌 笔记原文（引用，不是答案） / From your notes (a quote, not the answer)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """Escape ``text`` and wrap the character spans in <mark> (never executes anything from the note)."""
    out, pos = [], 0
    for a, b in sorted(spans):
        a, b = max(a, pos), min(b, len(text))
        if a >= b:
            continue
        out += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)


def sources_html(answer: Any, note_text: Any) -> str:
    """Sources under an answer: cited passages with the quoted sentences marked, and their surroundings.

    For an abstention, the passages that were searched are listed instead, so the user sees why.
    """
    if answer is None:
        return ""
    items = answer.citations
    searched = not items
    if searched:
        items = [{**r, "n": i + 1, "spans": []} for i, r in enumerate(answer.retrieved[:3])]
        if not items:
            return ""
    title = "搜索过的段落 / passages searched" if searched else "来源 / sources"
    parts = [f"<div class='{'searched' if searched else 'cited'}'><b>{title}</b>"]
    for c in items:
        rel = [(a - c["start"], b - c["start"]) for a, b in c.get("spans", [])]
        path = " › ".join(c.get("headings") or []) or c.get("title", "")
        context = ""
        try:
            text = note_text(c["source"])
            lo, hi = max(0, c["start"] - 400), min(len(text), c["end"] + 400)
            context = (html.escape(text[lo : c["start"]]) + "<mark>" + html.escape(text[c["start"] : c["end"]])
                       + "</mark>" + html.escape(text[c["end"] : hi]))
        except (OSError, ValueError):
            context = "<i>(note not readable any more)</i>"
        parts.append(
            f"<div class='src'><div class='meta'><b>[{c['n']}] {html.escape(c['source'])}</b> · "
            f"{html.escape(c.get('title', ''))} · {html.escape(path)} · chars {c['start']}–{c['end']}</div>"
            f"<div class='passage'>{_highlight(c['text'], rel)}</div>"
            f"<details><summary>在笔记中查看 / show in note</summary><pre>{context}</pre></details></div>"
        )
    parts.append("</div>")
    return "".join(parts)


def evidence_markdown(evidence: Any) -> str:
    """The chat message shown as soon as the best sentences are known, before the model's answer: each
    quote verbatim (escaped), with the note and heading path it comes from, under a label that says it is a
    quote and not the answer."""
    quotes = [f"> {_esc(e.text).replace(chr(10), chr(10) + '> ')}\n>\n> — *{_esc(e.source)} › {_esc(e.path)}*"
              for e in evidence]
    return f"**{EVIDENCE_TITLE}**\n\n" + "\n\n".join(quotes)


def evidence_html(evidence: Any) -> str:
    """The sources panel while the model answers: the quoted sentences, highlighted, with where they are."""
    if not evidence:
        return ""
    parts = ["<div class='evidence'><b>📌 笔记原文 / quoted from your notes</b>"]
    for e in evidence:
        parts.append(f"<div class='src'><div class='meta'><b>{html.escape(e.source)}</b> · "
                     f"{html.escape(e.path)} · chars {e.start}–{e.end}</div>"
                     f"<div class='passage'><mark>{html.escape(e.text)}</mark></div></div>")
    parts.append("</div>")
    return "".join(parts)


def model_choices(settings: Settings) -> list[str]:
    from rag.llm import BUNDLED

    choices = list(BUNDLED)
    if settings.llm_path is not None:
        choices.insert(0, f"custom: {settings.llm_path}")
    return choices


def build_app(settings: Settings) -> Any:
    """The Gradio Blocks app. Everything it does goes through ``rag.Answerer`` and ``ingest``."""
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
    from rag.retrieve import IndexHandle

    answerers: dict[str, Answerer] = {}
    handle = IndexHandle(settings)  # one loaded index, whatever model or passage count a chat picks

    def answerer_for(model: str, passages: int) -> Answerer:
        update: dict[str, Any] = {"context_passages": int(passages)}
        if not model.startswith("custom: "):
            update.update(llm=model, llm_path=None)
        key = f"{model}|{passages}"
        if key not in answerers:
            answerers[key] = Answerer(settings.model_copy(update=update), handle)
        return answerers[key]

    def index_status() -> str:
        from ingest.store import read_manifest

        try:
            m = read_manifest(settings.index_dir)
            return f"索引 / index: {len(m.files)} notes · {m.chunk_count} chunks · `{settings.index_dir}`"
        except IndexMissingError:
            return "⚠️ 还没有索引 / no index yet: open the Notes tab and press Re-ingest."
        except IndexCorruptError as exc:
            return f"⚠️ {exc}"

    def respond(message: str, chat: list[dict[str, Any]], pairs: list[list[str]], passages: int,
                show_reasoning: bool, model: str) -> Iterator[tuple[Any, ...]]:
        chat = [*chat, {"role": "user", "content": _esc(message or "")}]
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
            yield view(), "", pairs, ""
            final = None
            for item in answerer.stream(message, history=[tuple(p) for p in pairs]):
                if isinstance(item, Answer):
                    final = item
                elif isinstance(item, Event) and item.kind == "evidence" and item.evidence:
                    quote["content"] = evidence_markdown(item.evidence)
                    panel = evidence_html(item.evidence)
                    yield view(), panel, pairs, ""
                elif isinstance(item, Event) and item.kind == "reasoning":
                    thought["content"] += _esc(item.text)
                    yield view(), panel, pairs, ""
                elif isinstance(item, Event) and item.kind in ("answer", "replace"):
                    if reply["content"].startswith("⏳") or item.kind == "replace":
                        reply["content"] = ""
                    reply["content"] += _esc(item.text)
                    yield view(), panel, pairs, ""
        except (QuestionError, IndexMissingError, IndexCorruptError, ModelFileError, NotesError) as exc:
            reply["content"] = f"⚠️ {html.escape(str(exc))}"
            yield view(), "", pairs, ""
            return
        assert final is not None
        thought["metadata"]["status"] = "done"
        thought["content"] = _esc(final.reasoning) or thought["content"]
        prefix = (f"ℹ️ *{_esc(final.notice)}*\n\n" if final.notice else "") + ("🔎 " if final.abstained else "")
        reply["content"] = prefix + _esc(final.answer)
        secs = final.timings.get("total") or 0
        thought["metadata"]["duration"] = round(secs, 1)
        pairs = [*pairs, [message, final.answer]]
        yield view(), sources_html(final, answerer.handle.get().note_text), pairs, ""

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
            answerer = answerer_for(settings.llm if not settings.llm_path else model_choices(settings)[0],
                                    settings.context_passages)
            answerer.warm_up()
        except Exception as exc:  # the chat will show the same problem with its own message
            logging.getLogger(__name__).warning("warm-up failed: %s", exc)

    threading.Thread(target=warm_up, daemon=True).start()

    with gr.Blocks(title="notesqa · 笔记问答") as demo:
        gr.Markdown("## 📒 笔记问答 · notesqa\n本地运行，笔记不会离开这台电脑。 / Runs locally; your notes never leave "
                    "this machine.")
        status = gr.Markdown(index_status)  # re-read on every page load
        with gr.Tab("问答 / Chat"):
            chatbot = gr.Chatbot(label="对话 / conversation", height=460, sanitize_html=True,
                                 buttons=["copy"], elem_id="chat")
            with gr.Row():
                box = gr.Textbox(placeholder="问一个关于笔记的问题… / Ask about your notes…", show_label=False,
                                 scale=6, elem_id="question")
                send = gr.Button("提问 / Ask", variant="primary", scale=1, elem_id="ask")
            with gr.Row():
                new_chat = gr.Button("🆕 新对话 / New chat", size="sm")
            gr.Examples(EXAMPLES, inputs=box, label="示例 / examples")
            sources = gr.HTML(elem_id="sources")
            with gr.Accordion("设置 / Settings", open=False):
                passages = gr.Slider(1, 5, value=settings.context_passages, step=1,
                                     label="提示中的段落数 / passages given to the model")
                show_reasoning = gr.Checkbox(value=True, label="显示思考过程 / show reasoning")
                choices = model_choices(settings)
                model = gr.Dropdown(choices=choices, value=choices[0] if settings.llm_path else settings.llm,
                                    label="模型 / model")
            pairs = gr.State([])
        with gr.Tab("笔记 / Notes"):
            table = gr.Dataframe(value=notes_table, headers=["file", "title", "chunks", "last ingested"],
                                 interactive=False, label="知识库中的笔记 / notes in the knowledge base")
            with gr.Row():
                files = gr.File(file_count="multiple", file_types=[".md", ".markdown", ".txt"],
                                label=f"上传笔记 / upload notes (.md/.txt, ≤ {settings.max_upload_mb} MB)")
                with gr.Column():
                    reingest_btn = gr.Button("🔄 重新导入 / Re-ingest", variant="primary")
                    victim = gr.Dropdown(choices=[n.source for n in list_notes(settings)],
                                         label="删除笔记 / remove a note")
                    delete_btn = gr.Button("🗑️ 删除 / Remove", variant="stop")
                    watching = gr.Checkbox(value=False, label="👀 自动导入 / watch the folder and re-ingest on change")
            summary = gr.Markdown()
            watch_md = gr.Markdown()
            ticker = gr.Timer(2.0, active=False)

        ask_inputs = [box, chatbot, pairs, passages, show_reasoning, model]
        ask_outputs = [chatbot, sources, pairs, box]
        send.click(respond, ask_inputs, ask_outputs, concurrency_id="llm")
        box.submit(respond, ask_inputs, ask_outputs, concurrency_id="llm")
        new_chat.click(lambda: ([], "", [], ""), None, ask_outputs, queue=False)
        reingest_btn.click(reingest, None, [summary, table, status, victim], concurrency_id="ingest")
        files.upload(upload, files, [summary, table, status, victim], concurrency_id="ingest")
        delete_btn.click(delete, victim, [summary, table, status, victim], concurrency_id="ingest")
        watching.change(toggle_watch, watching, [watch_md, ticker], queue=False)
        ticker.tick(watch_log, None, [watch_md, table, status], queue=False)
    demo.queue(default_concurrency_limit=1)
    return demo


def launch(settings: Settings, *, block: bool = True) -> Any:
    """Serve the app on ``settings.host:port`` (loopback by default; other addresses require auth)."""
    if not is_loopback(settings.host) and not settings.auth:
        raise PermissionError(
            f"Refusing to serve on {settings.host} without a password: set NOTESQA_AUTH=user:password "
            "(or keep NOTESQA_HOST=127.0.0.1)."
        )
    auth = tuple(settings.auth.split(":", 1)) if settings.auth else None
    if auth is not None and len(auth) != 2:
        raise ValueError("NOTESQA_AUTH must look like user:password")
    demo = build_app(settings)
    demo.launch(server_name=settings.host, server_port=settings.port, auth=auth, prevent_thread_lock=not block,
                show_error=True, footer_links=[], css=CSS, ssr_mode=False)
    return demo
