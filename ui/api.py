"""OpenAI-compatible API served beside the UI: ``/v1/chat/completions`` (JSON or server-sent events),
``/v1/models``, ``/v1/search`` (retrieval only) and ``/v1/feedback`` (thumbs up/down on an answer).

The handlers are plain functions over a :class:`Service` (``ui.backend.Backend`` in the server: the same index and
model queue as the UI), so they are tested without a server; :func:`create_api` only wires them into FastAPI
routes, with the bearer key and errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``).

How an answer comes back:

- ``message.content`` is the checked answer with its sources as markdown footnotes (``[^1]: note.md › heading``),
  so any chat client shows them; abstentions and declines are ordinary assistant text.
- ``message.citations`` lists the cited passages (n, source, title, headings, chunk_id, start, end, lines, text,
  spans, and ``link``: an ``obsidian://`` link for a note in an Obsidian vault, else "");
  ``message.notesqa`` says whether the system abstained (``abstained``, ``reason``) and which quotes from the
  notes it showed first (``evidence``).
- Streamed, the quotes from the notes and the model's reasoning arrive first as ``delta.reasoning_content``
  (shown as "thinking" by clients that know it, ignored by others); the answer text is sent once it has been
  checked against the notes, in the last chunk, which also carries ``citations`` and ``notesqa``. A draft the
  check would withdraw is never sent, because a chat client cannot take back streamed text.

A request may narrow the notes searched with ``"scope": {"in": ["papers/"], "tags": ["rag"]}`` (chat and search;
``rag.scope.Scope``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from notesqa.settings import Settings
from rag.scope import Scope, ScopeError
from rag.turn import Answer, Event, EventKind
from ui.chats import ChatNotFoundError, ChatStore, title_from, with_footnotes

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted (a question is at most ``max_question_chars``; this leaves room for history)."""

MAX_SEARCH_K = 50
"""Most passages one ``/v1/search`` returns (``settings.top_k``'s upper bound)."""

ROUTES = {"chat/completions": "POST", "models": "GET", "search": "POST", "feedback": "POST"}
"""The API's routes (under ``/v1``) and the method each takes."""

RECENT_ANSWERS = 500
"""How many of the latest answers ``/v1/feedback`` can rate by their completion id (kept in memory; an answer is
written to the conversations database only when it is rated)."""

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names a request to a loopback server without a key may carry (others are a DNS-rebinding page)."""


class Service(Protocol):
    """What the API answers with (``ui.backend.Backend``; a fake in the tests)."""

    settings: Settings

    def models(self) -> list[str]: ...

    @property
    def default_model(self) -> str: ...

    def stream(self, model: str, question: str, history: Sequence[tuple[str, str]] = (),
               scope: Scope | None = None) -> Iterator[Event | Answer]:
        ...

    def model_ids(self) -> list[str]: ...

    def split_model(self, model: str) -> tuple[str, str | None]: ...

    def knowledge_bases(self) -> list[str]: ...

    def search(self, query: str, k: int, scope: Scope | None = None, kb: str | None = None) -> list[dict[str, Any]]:
        ...

    def link(self, source: str, kb: str | None = None) -> str: ...

    def knowledge_base(self, kb: str | None = None) -> dict[str, Any]: ...


class ApiError(Exception):
    """A request the API answers with an error in OpenAI's shape; ``status`` is the HTTP status, ``kind``
    OpenAI's error type."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def api_error(exc: BaseException) -> ApiError:
    """The API error for an exception from answering or searching (the user's mistake: 400; the server's
    missing index or model: 503; anything else: 500, logged)."""
    from ingest.store import IndexCorruptError, IndexMissingError
    from rag.guard import QuestionError
    from rag.llm import ModelFileError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QuestionError):
        return ApiError(400, str(exc), param="messages", code="invalid_question")
    if isinstance(exc, ScopeError):
        return ApiError(400, str(exc), param="scope", code="invalid_scope")
    if isinstance(exc, IndexMissingError):
        return ApiError(503, f"{exc} (run `notesqa ingest`)", kind="server_error", code="no_index")
    if isinstance(exc, IndexCorruptError):
        return ApiError(503, str(exc), kind="server_error", code="index_damaged")
    if isinstance(exc, ModelFileError):
        return ApiError(503, str(exc), kind="server_error", code="model_unavailable")
    log.exception("API request failed", exc_info=exc)
    return ApiError(500, f"Internal error ({type(exc).__name__}); the server log has the details.",
                    kind="server_error")


# --- requests ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChatRequest:
    """A parsed ``/v1/chat/completions`` request."""

    question: str
    """The last message, which must be the user's."""
    history: list[tuple[str, str]]
    """Earlier (user, assistant) turns, oldest first; system messages are not used (the rules are fixed)."""
    model: str
    stream: bool = False
    include_usage: bool = False
    """``stream_options.include_usage``: a last chunk with the token counts."""
    scope: Scope | None = None
    """The notes to answer from (``"scope": {"in": [...], "tags": [...]}``); ``None``: all."""


def parse_scope(body: Mapping[str, Any]) -> Scope | None:
    """The request's ``scope`` field (``ApiError`` when it is malformed)."""
    try:
        return Scope.from_dict(body.get("scope"))
    except ScopeError as exc:
        raise ApiError(400, str(exc), param="scope", code="invalid_scope") from exc


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"{where}[{i}]: only text parts are supported, not {kind!r}.", param=where)
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(400, f"{where} must be a string or a list of text parts.", param=where)


def parse_chat_request(body: Any, models: Sequence[str], default_model: str) -> ChatRequest:
    """Validate a chat completion request: the last message is the question, earlier user and assistant
    messages are the history. Sampling options (temperature, max_tokens, ...) are accepted and ignored: answers
    are greedy, with the budgets the settings fix."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {role, content} objects.", param="messages")
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{where} must be an object with 'role' and 'content'.", param="messages")
        role = m.get("role")
        if role in ("system", "developer"):
            continue
        if role not in ("user", "assistant"):
            raise ApiError(400, f"{where}: role {role!r} is not supported (use user, assistant or system).",
                           param=f"{where}.role")
        turns.append((role, _text(m.get("content"), f"{where}.content")))
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "The last message must be the user's question.", param="messages")
    history: list[tuple[str, str]] = []
    for (role, text), (next_role, next_text) in zip(turns, [*turns[1:], ("", "")], strict=True):
        if role == "user" and next_role:
            history.append((text, next_text if next_role == "assistant" else ""))
    model = body.get("model") or default_model
    if not isinstance(model, str) or model not in models:
        raise ApiError(400, f"Unknown model {model!r}; GET /v1/models lists them: {', '.join(models)}.",
                       param="model", code="model_not_found")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false.", param="stream")
    if body.get("n", 1) not in (1, None):
        raise ApiError(400, "Only one answer per request (n=1) is supported.", param="n")
    if body.get("tools"):
        raise ApiError(400, "Tools are not supported: the assistant only answers from your notes.", param="tools")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object.", param="stream_options")
    return ChatRequest(turns[-1][1], history, model, stream, bool(options.get("include_usage")), parse_scope(body))


@dataclass(frozen=True)
class SearchRequest:
    """A parsed ``/v1/search`` request."""

    query: str
    k: int
    scope: Scope | None = None
    knowledge_base: str | None = None
    """Which knowledge base to search (``None``: the first)."""


def parse_search_request(body: Any, default_k: int, knowledge_bases: Sequence[str] = ()) -> SearchRequest:
    """A ``/v1/search`` body: ``{"query": str, "k": int, "scope": {...}, "knowledge_base": str}`` (``top_k`` is
    accepted for ``k``)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, "'query' must be a non-empty string.", param="query")
    k = body.get("k", body.get("top_k", default_k))
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SEARCH_K:
        raise ApiError(400, f"'k' must be an integer from 1 to {MAX_SEARCH_K}.", param="k")
    kb = body.get("knowledge_base")
    if kb is not None and kb not in knowledge_bases:
        raise ApiError(400, f"Unknown knowledge base {kb!r}; there are: {', '.join(knowledge_bases)}.",
                       param="knowledge_base", code="knowledge_base_not_found")
    return SearchRequest(query, k, parse_scope(body), kb)


def check_access(authorization: str | None, host: str | None, api_key: str | None, loopback: bool) -> None:
    """Raise ``ApiError`` unless the request may use the API: with a key configured, it must come as
    ``Authorization: Bearer <key>``; without one (loopback only), the Host header must be a loopback name, so a
    web page that rebinds its own domain to 127.0.0.1 cannot read the notes through a visitor's browser."""
    if api_key:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_key.encode()):
            raise ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <NOTESQA_API_KEY>'.",
                           code="invalid_api_key")
        return
    name = (host or "").strip().lower()
    name = name[1:].split("]")[0] if name.startswith("[") else name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    if not loopback or name not in LOOPBACK_HOSTS:
        raise ApiError(403, f"Requests to this server must be addressed to localhost, not {host!r}.",
                       kind="permission_error", code="host_not_allowed")


# --- responses --------------------------------------------------------------------------------------
def answer_content(answer: Answer) -> str:
    """The assistant text: the answer (or the decline) with its sources as markdown footnotes."""
    text = with_footnotes(answer.answer, answer.citations)
    return f"*{answer.notice}*\n\n{text}" if answer.notice else text


def extras(answer: Answer, link: Callable[[str], str] = lambda source: "") -> dict[str, Any]:
    """The fields added to OpenAI's message: ``citations`` (each with the ``link`` that opens its note, if any)
    and ``notesqa`` (abstained, reason, evidence)."""
    return {"citations": [{**c.to_dict(), "link": link(c.source)} for c in answer.citations],
            "notesqa": {"abstained": answer.abstained, "reason": answer.reason,
                        "evidence": [e.to_dict() for e in answer.evidence]}}


def usage(answer: Answer) -> dict[str, int]:
    p, c = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def quotes_markdown(evidence: Sequence[Any]) -> str:
    """The quotes from the notes, as streamed reasoning before the model writes: markdown quotes with where."""
    return "".join(f"> {e.text.replace(chr(10), chr(10) + '> ')}\n> — {e.source} › {e.path}\n\n" for e in evidence)


def _final(items: Iterator[Event | Answer]) -> Answer:
    final = None
    for item in items:
        if isinstance(item, Answer):
            final = item
    if final is None:  # pragma: no cover - Answerer.stream always ends with an Answer
        raise ApiError(500, "The answer was cut short.", kind="server_error")
    return final


def chat_completion(request: ChatRequest, service: Service, *, completion_id: str | None = None,
                    recent: RecentAnswers | None = None) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object (raises ``ApiError``); the answer is kept in ``recent`` to be
    rated."""
    completion_id = completion_id or _new_id()
    try:
        answer = _final(service.stream(request.model, request.question, request.history, request.scope))
    except Exception as exc:
        raise api_error(exc) from exc
    if recent is not None:
        recent.add(completion_id, request, answer)
    message = {"role": "assistant", "content": answer_content(answer), "reasoning_content": answer.reasoning or None,
               **extras(answer, partial(service.link, kb=service.split_model(request.model)[1]))}
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
            "model": request.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": usage(answer)}


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def chat_completion_chunks(request: ChatRequest, service: Service, *, completion_id: str | None = None,
                           recent: RecentAnswers | None = None) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer. An error before the answer starts (a bad
    question, no index) is raised as ``ApiError`` from the first ``next()``, so it becomes an HTTP error; one
    after it is the last item, as ``{"error": ...}`` (what OpenAI's clients raise)."""
    cid, created = completion_id or _new_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": request.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    items = service.stream(request.model, request.question, request.history, request.scope)
    try:
        first = next(items)
    except StopIteration as exc:  # pragma: no cover - Answerer.stream always yields an Answer
        raise ApiError(500, "No answer.", kind="server_error") from exc
    except Exception as exc:
        raise api_error(exc) from exc
    yield chunk({"role": "assistant", "content": ""})
    quoted: set[tuple[str, int, int]] = set()
    reasoned = False
    final: Answer | None = None
    try:
        for item in _chain(first, items):
            if isinstance(item, Answer):
                final = item
            elif item.kind == EventKind.EVIDENCE:
                new = [e for e in item.evidence if (e.source, e.start, e.end) not in quoted]
                quoted.update((e.source, e.start, e.end) for e in new)
                if new:
                    yield chunk({"reasoning_content": quotes_markdown(new)})
            elif item.kind == EventKind.REASONING and item.text:
                reasoned = True
                yield chunk({"reasoning_content": item.text})
    except Exception as exc:
        yield api_error(exc).body()
        return
    finally:
        close = getattr(items, "close", None)
        if close is not None:  # stopped early (the client left): the answer lets go of the model now
            close()
    if final is None:  # pragma: no cover
        yield ApiError(500, "The answer was cut short.", kind="server_error").body()
        return
    if recent is not None:
        recent.add(cid, request, final)
    if not reasoned and final.reasoning:  # a decline's reason, known only at the end
        yield chunk({"reasoning_content": final.reasoning})
    link = partial(service.link, kb=service.split_model(request.model)[1])
    yield chunk({"content": answer_content(final), **extras(final, link)}, "stop")
    if request.include_usage:
        yield {**chunk({}), "choices": [], "usage": usage(final)}


def _chain(first: Event | Answer, rest: Iterator[Event | Answer]) -> Iterator[Event | Answer]:
    yield first
    yield from rest


def sse_event(chunk: Mapping[str, Any]) -> bytes:
    """One server-sent event: ``data: {json}`` and a blank line (the stream ends with ``data: [DONE]``)."""
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"


def list_models(service: Service, created: int = 0) -> dict[str, Any]:
    """``/v1/models``: each model choice on each knowledge base (``model@name`` for all but the first), with the
    knowledge base (notes folder, index) it answers from."""
    about = {kb: service.knowledge_base(kb) for kb in service.knowledge_bases()}
    first = service.knowledge_bases()[0]
    return {"object": "list", "data": [{"id": m, "object": "model", "created": created, "owned_by": "notesqa",
                                        "knowledge_base": about[service.split_model(m)[1] or first]}
                                       for m in service.model_ids()]}


def search(request: SearchRequest, service: Service) -> dict[str, Any]:
    """``/v1/search``: the top ``k`` passages for ``query`` (hybrid retrieval, no model), best first, with
    their fused score, dense similarity, BM25 score and where they are."""
    from rag.guard import clean_question

    try:
        query = clean_question(request.query, service.settings.max_question_chars)
        hits = service.search(query, request.k, request.scope, request.knowledge_base)
    except Exception as exc:
        raise api_error(exc) from exc
    data = []
    for rank, h in enumerate(hits, 1):
        where = " › ".join(h.get("headings") or []) or h.get("title", "")
        data.append({"object": "search.result", "rank": rank, "score": h["score"], "dense": h.get("dense"),
                     "bm25": h.get("bm25"), "source": h["source"], "title": h.get("title", ""),
                     "headings": h.get("headings", []), "path": where, "chunk_id": h["chunk_id"],
                     "start": h["start"], "end": h["end"], "lines": h.get("lines", []), "text": h["text"]})
    return {"object": "list", "query": query, "data": data}


# --- feedback ----------------------------------------------------------------------------------------
@dataclass
class Answered:
    """An answer the API gave, kept so that it can be rated."""

    request: ChatRequest
    answer: Answer
    turn_id: int | None = None
    """Its turn in the conversations database, once rated."""


class RecentAnswers:
    """The latest ``size`` answers by completion id (thread-safe; the oldest are forgotten)."""

    def __init__(self, size: int = RECENT_ANSWERS):
        self.size = size
        self.lock = threading.Lock()
        self._items: OrderedDict[str, Answered] = OrderedDict()

    def add(self, completion_id: str, request: ChatRequest, answer: Answer) -> None:
        with self.lock:
            self._items[completion_id] = Answered(request, answer)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def turn_of(self, completion_id: str, store: ChatStore) -> int:
        """The stored turn of an answer, written to ``store`` on its first rating (once, however many ratings
        come at the same time)."""
        with self.lock:
            entry = self._items.get(completion_id)
            if entry is None:
                raise ApiError(404, f"Unknown completion {completion_id!r}: only the latest {self.size} answers "
                                    "of this server can be rated.", param="id", code="unknown_completion")
            if entry.turn_id is None:
                entry.turn_id = _store_answer(store, entry)
            return entry.turn_id


RATINGS: dict[Any, int | None] = {"up": 1, "down": -1, 1: 1, -1: -1, None: None}
"""Accepted ``rating`` values: thumbs up, thumbs down, or null to clear a rating."""


def parse_feedback_request(body: Any) -> tuple[str | None, int | None, int | None]:
    """``(completion_id, turn_id, rating)`` from ``{"id": "chatcmpl-…", "rating": "up"}`` (or ``"turn_id"``: a
    stored turn's id, as ``notesqa chats export --format json`` shows it)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    if "rating" not in body:
        raise ApiError(400, "'rating' is required: \"up\", \"down\" (or 1, -1), or null to clear.", param="rating")
    rating = body["rating"]
    if isinstance(rating, bool) or not isinstance(rating, str | int | None) or rating not in RATINGS:
        raise ApiError(400, "'rating' must be \"up\", \"down\", 1, -1 or null.", param="rating")
    completion_id, turn_id = body.get("id"), body.get("turn_id")
    if (completion_id is None) == (turn_id is None):
        raise ApiError(400, "Give either 'id' (the completion's id) or 'turn_id' (a stored turn's id).", param="id")
    if completion_id is not None and not isinstance(completion_id, str):
        raise ApiError(400, "'id' must be the completion's id string.", param="id")
    if turn_id is not None and (isinstance(turn_id, bool) or not isinstance(turn_id, int)):
        raise ApiError(400, "'turn_id' must be an integer.", param="turn_id")
    return completion_id, turn_id, RATINGS[rating]


def feedback(body: Any, recent: RecentAnswers, store: ChatStore | None) -> dict[str, Any]:
    """``/v1/feedback``: rate one of the latest answers (by completion id) or a stored turn. A rated API answer
    is stored as a conversation of its own (titled "API: …", with the request's history as earlier turns), so
    ``notesqa feedback export`` finds it like a rating given in the UI."""
    completion_id, turn_id, rating = parse_feedback_request(body)
    if store is None:
        raise ApiError(503, "The conversations database is not available; see the server log.", kind="server_error")
    try:
        if completion_id is not None:
            turn_id = recent.turn_of(completion_id, store)
        assert turn_id is not None
        turn = store.rate(turn_id, rating)
        conversation = store.conversation_of(turn.id)
    except ChatNotFoundError as exc:
        raise ApiError(404, str(exc), param="turn_id", code="unknown_turn") from exc
    return {"object": "feedback", "id": completion_id, "turn_id": turn.id, "conversation_id": conversation,
            "rating": turn.rating}


def _store_answer(store: ChatStore, entry: Answered) -> int:
    """Write an API answer (after its request's history) as a new conversation; returns the answer's turn id."""
    a = entry.answer
    conv = store.create(f"API: {title_from(entry.request.question)}")
    for question, answer in entry.request.history:
        store.append_turn(conv.id, question, answer)
    return store.append_turn(conv.id, entry.request.question, a.answer, abstained=a.abstained, reason=a.reason,
                             reasoning=a.reasoning, notice=a.notice, model=a.model or entry.request.model,
                             lang=a.lang, citations=a.citations, evidence=a.evidence).id


# --- the routes --------------------------------------------------------------------------------------
class _Pump:
    """Runs a blocking iterator in its own thread and hands its items to the event loop. ``cancel()`` (the
    client went away) stops it at its next item and closes it, so the answer lets go of the model."""

    _END = object()

    def __init__(self, items: Iterator[Any], loop: asyncio.AbstractEventLoop):
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = threading.Event()
        self._items, self._loop = items, loop
        threading.Thread(target=self._run, daemon=True, name="api-stream").start()

    def _put(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is gone: nobody is listening any more
            self.cancelled.set()

    def _run(self) -> None:
        try:
            for item in self._items:
                if self.cancelled.is_set():
                    break
                self._put(item)
        except BaseException as exc:
            self._put(exc)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
            self._put(self._END)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            item = await self.queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self.cancelled.set()


def create_api(service: Service, *, api_key: str | None, loopback: bool, store: ChatStore | None = None) -> FastAPI:
    """The FastAPI app with the ``/v1`` routes (the UI is mounted on it afterwards, at ``/``). ``loopback``:
    the server listens on a loopback address only (then no key is needed); ``store`` keeps rated answers."""
    started = int(time.time())
    recent = RecentAnswers()
    # no OpenTelemetry from FastAPI either (it would only record, with no exporter, but nothing is to leave)
    quiet: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                              "auto_configure": False}
    app = FastAPI(title="notesqa", docs_url=None, redoc_url=None, openapi_url=None, telemetry=quiet)

    async def guard(request: Request) -> None:
        check_access(request.headers.get("authorization"), request.headers.get("host"), api_key, loopback)

    async def json_body(request: Request) -> Any:
        """The request's JSON. It must be sent as application/json, which a web page on another site cannot
        do without the browser asking first (and this server never says yes)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(400, "Send the request body as JSON with 'Content-Type: application/json'.")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc

    async def on_api_error(request: Request, exc: Exception) -> Response:
        err = exc if isinstance(exc, ApiError) else api_error(exc)
        return JSONResponse(err.body(), status_code=err.status)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return JSONResponse(ApiError(status, str(getattr(exc, "detail", exc))).body(), status_code=status)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(HTTPException, on_http_error)
    auth = [Depends(guard)]

    @app.get("/v1/models", dependencies=auth)
    async def models() -> Response:
        return JSONResponse(await run_in_threadpool(list_models, service, started))

    @app.post("/v1/search", dependencies=auth)
    async def search_route(request: Request) -> Response:
        req = parse_search_request(await json_body(request), service.settings.top_k, service.knowledge_bases())
        return JSONResponse(await run_in_threadpool(search, req, service))

    @app.post("/v1/chat/completions", dependencies=auth)
    async def chat_completions(request: Request) -> Response:
        req = parse_chat_request(await json_body(request), service.model_ids(), service.default_model)
        if not req.stream:
            return JSONResponse(await run_in_threadpool(partial(chat_completion, req, service, recent=recent)))
        pump = _Pump(chat_completion_chunks(req, service, recent=recent), asyncio.get_running_loop())
        events = pump.__aiter__()
        try:
            first = await events.__anext__()  # a bad question or a missing index is still an HTTP error
        except BaseException:
            pump.cancel()
            raise

        async def body() -> AsyncIterator[bytes]:
            try:
                yield sse_event(first)
                async for c in events:
                    yield sse_event(c)
                yield SSE_DONE
            finally:
                pump.cancel()

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/feedback", dependencies=auth)
    async def feedback_route(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(feedback, await json_body(request), recent, store))

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], dependencies=auth)
    async def unknown(rest: str) -> Response:
        method = ROUTES.get(rest.strip("/"))
        if method:
            raise ApiError(405, f"/v1/{rest} takes {method} requests.", code="method_not_allowed")
        raise ApiError(404, f"No such API route: /v1/{rest}. The routes are "
                            + ", ".join(f"{m} /v1/{r}" for r, m in ROUTES.items()) + ".", code="unknown_route")

    return app

