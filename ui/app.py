"""The notesqa web app: the Gradio UI and the OpenAI-compatible API served together (no retrieval logic here).

:func:`build_app` puts the UI together from its tabs (``ui.chat_tab``, ``ui.notes_tab``; what they show is
rendered by ``ui.render``); :func:`launch` serves it with the API (``ui.api``) on one address, and
:func:`start_warm_up` loads the models ahead of the first question when the launcher asks for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
from typing import Any

from notesqa.settings import Settings
from ui.backend import Backend
from ui.chat_tab import build_chat_tab, build_sidebar, open_chat_store
from ui.notes_tab import build_notes_tab, build_status

CSS = """
.src{border:1px solid var(--border-color-primary);border-radius:8px;padding:.5rem .8rem;margin:.4rem 0}
.src .meta{font-size:.85em;opacity:.8} .src .passage{white-space:pre-wrap;margin:.3rem 0}
.src mark{background:#ffe58f;color:inherit;padding:0 .1em} .src pre{white-space:pre-wrap;font-size:.85em}
.searched{opacity:.85} .evidence .passage{font-size:1.05em}
"""

HEADER = (
    "## 📒 笔记问答 · notesqa\n本地运行，笔记不会离开这台电脑。 / Runs locally; your notes never leave this machine."
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(settings: Settings, backend: Backend | None = None) -> Any:
    """The Gradio Blocks app: the conversations sidebar, the index status line, the chat tab and the notes tab.
    Everything it does goes through ``rag.Answerer`` and ``ingest``; ``backend`` holds the index and answerers
    (shared with the API when both are served). Building starts no thread and loads no model."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    backend = backend or Backend(settings)
    store, store_problem = open_chat_store(settings)
    with gr.Blocks(title="notesqa · 笔记问答") as demo:
        sidebar = build_sidebar(store, store_problem)
        gr.Markdown(HEADER)
        names = backend.knowledge_bases()
        kb = gr.Dropdown(choices=names, value=names[0], label="知识库 / knowledge base", visible=len(names) > 1,
                         elem_id="kb")
        status = build_status(backend, kb)
        scope = build_chat_tab(demo, settings, backend, store, store_problem, sidebar, kb)
        build_notes_tab(backend, status, kb, scope)
    demo.queue(default_concurrency_limit=1)
    return demo


def start_warm_up(backend: Backend) -> threading.Thread:
    """Load the default model and the index on a background thread, so the first question does not wait for
    them; a failure is only logged (the chat shows the same problem with its own message)."""

    def warm_up() -> None:
        try:
            backend.answerer(backend.default_model, backend.settings.context_passages).warm_up()
        except Exception as exc:
            logging.getLogger(__name__).warning("warm-up failed: %s", exc)

    thread = threading.Thread(target=warm_up, daemon=True, name="notesqa-warm-up")
    thread.start()
    return thread


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


def launch(settings: Settings, *, block: bool = True, backend: Backend | None = None, warm_up: bool = False) -> Server:
    """Serve the UI at ``/`` and the OpenAI-compatible API at ``/v1`` on ``settings.host:port``, one process
    and one model queue (loopback by default; other addresses require ``auth`` and ``api_key``). With
    ``block=False`` the server runs in a background thread and is returned started. ``backend`` replaces the
    models and index (tests). ``warm_up`` starts loading the models once the address is bound
    (:func:`start_warm_up`)."""
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
    if warm_up:
        start_warm_up(backend)
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
