"""The OpenAI-compatible API: handlers over a fake answerer (fast), and the real server answering through the
official openai client and curl (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notesqa.settings import Settings
from rag.scope import Scope
from tests.conftest import CORPUS, ROOT
from tests.helpers.fakes import CITE, MODELS, QUOTE, FakeService, abstained, answered
from tests.ui.test_app import serve
from ui.api import (
    ApiError,
    ChatRequest,
    SearchRequest,
    chat_completion,
    chat_completion_chunks,
    check_access,
    create_api,
    parse_chat_request,
    parse_search_request,
)


def request(**body: Any) -> ChatRequest:
    return parse_chat_request({"model": MODELS[1], "messages": [{"role": "user", "content": "Kosmos-1 有多少参数?"}],
                               **body}, MODELS, MODELS[1])


# --- request parsing ------------------------------------------------------------------------------
def test_the_last_user_message_is_the_question_and_earlier_turns_the_history() -> None:
    req = parse_chat_request({"messages": [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Kosmos-1 是什么?"},
        {"role": "assistant", "content": "一个多模态模型。[^1]\n\n[^1]: a.md › b"},
        {"role": "user", "content": [{"type": "text", "text": "它有多少"}, {"type": "text", "text": "参数?"}]},
    ], "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.7}, MODELS, MODELS[1])
    assert req.question == "它有多少\n参数?" and req.model == MODELS[1] and req.stream and req.include_usage
    assert req.history == [("Kosmos-1 是什么?", "一个多模态模型。[^1]\n\n[^1]: a.md › b")]
    two_users = parse_chat_request({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
                                    "model": MODELS[0]}, MODELS, MODELS[1])
    assert two_users.history == [("a", "")] and two_users.question == "b" and two_users.model == MODELS[0]


@pytest.mark.parametrize(("body", "param", "words"), [
    ([], None, "JSON object"),
    ({}, "messages", "non-empty list"),
    ({"messages": []}, "messages", "non-empty list"),
    ({"messages": ["hi"]}, "messages", "role"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "messages", "last"),
    ({"messages": [{"role": "system", "content": "only rules"}]}, "messages", "last"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content", "only text parts"),
    ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content", "string"),
    ({"messages": [{"role": "user", "content": "q"}], "model": "gpt-4o"}, "model", "GET /v1/models"),
    ({"messages": [{"role": "user", "content": "q"}], "stream": "yes"}, "stream", "true or false"),
    ({"messages": [{"role": "user", "content": "q"}], "n": 2}, "n", "n=1"),
    ({"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "function"}]}, "tools", "not supported"),
])
def test_bad_requests_are_400_with_a_clear_message(body: Any, param: str | None, words: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_chat_request(body, MODELS, MODELS[1])
    assert err.value.status == 400 and err.value.param == param and words in err.value.message
    assert set(err.value.body()["error"]) == {"message", "type", "param", "code"}


def test_search_request() -> None:
    assert parse_search_request({"query": "Kosmos"}, 5) == SearchRequest("Kosmos", 5)
    assert parse_search_request({"query": "Kosmos", "top_k": 7}, 5) == SearchRequest("Kosmos", 7)
    assert parse_search_request({"query": "q", "scope": {"tags": "#rag"}, "knowledge_base": "work"}, 5,
                                ["notes", "work"]) == SearchRequest("q", 5, Scope((), ("rag",)), "work")
    for bad in ({"query": ""}, {"query": 3}, {"query": "q", "k": 0}, {"query": "q", "k": 51},
                {"query": "q", "k": True}, {"query": "q", "scope": {"folder": "x"}},
                {"query": "q", "knowledge_base": "nope"}):
        with pytest.raises(ApiError):
            parse_search_request(bad, 5)


# --- answers ---------------------------------------------------------------------------------------
def test_a_completion_has_footnotes_and_citations() -> None:
    service = FakeService(answered())
    body = chat_completion(request(), service)
    message = body["choices"][0]["message"]
    assert message["content"] == "Kosmos-1 有 1.3B 参数。[^1]\n\n[^1]: 001_kosmos.txt › 多模态 › Kosmos-1"
    assert "DRAFT" not in message["content"]
    assert message["citations"] == [{**CITE.to_dict(), "link": "obsidian://open?vault=v&file=001_kosmos.txt"}]
    assert message["notesqa"]["abstained"] is False
    assert message["notesqa"]["evidence"][0]["text"] == QUOTE.text
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["finish_reason"] == "stop" and body["model"] == MODELS[1]
    assert body["usage"] == {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}
    assert service.calls == [(MODELS[1], "Kosmos-1 有多少参数?", [])]


def test_an_abstention_is_plain_assistant_text() -> None:
    body = chat_completion(request(), FakeService(abstained()))
    message = body["choices"][0]["message"]
    assert message["content"] == "笔记里没有找到这个问题的答案。" and message["citations"] == []
    assert message["notesqa"]["abstained"] is True and message["notesqa"]["reason"] == "gate"


def test_the_stream_sends_quotes_and_reasoning_first_and_the_checked_answer_last() -> None:
    chunks = list(chat_completion_chunks(request(stream=True, stream_options={"include_usage": True}),
                                         FakeService(answered())))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    thinking = "".join(d.get("reasoning_content", "") for d in deltas)
    assert thinking.startswith("> 数据和模型规模:1.3 B 的参数\n> — 001_kosmos.txt › 多模态 › Kosmos-1")
    assert thinking.endswith("段落[1]说：1.3 B")
    assert "DRAFT" not in json.dumps(chunks, ensure_ascii=False)  # the unchecked draft is never sent
    last = chunks[-2]["choices"][0]
    assert last["finish_reason"] == "stop"
    assert last["delta"]["content"].endswith("[^1]: 001_kosmos.txt › 多模态 › Kosmos-1")
    assert last["delta"]["citations"] == [{**CITE.to_dict(), "link": "obsidian://open?vault=v&file=001_kosmos.txt"}]
    assert [c["finish_reason"] for c in (x["choices"][0] for x in chunks[:-2])] == [None] * (len(chunks) - 2)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 320


def test_a_streamed_decline_carries_its_reason_as_reasoning() -> None:
    chunks = list(chat_completion_chunks(request(stream=True), FakeService(abstained())))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"reasoning_content": "Best passage similarity 0.700 < 0.82."}
    assert deltas[2]["content"] == "笔记里没有找到这个问题的答案。" and deltas[2]["notesqa"]["abstained"] is True


def test_errors_before_the_answer_are_raised_and_after_it_are_the_last_chunk() -> None:
    from ingest.store import IndexMissingError
    from rag.guard import QuestionError

    with pytest.raises(ApiError) as err:
        next(chat_completion_chunks(request(stream=True), FakeService(error=QuestionError("too long"))))
    assert err.value.status == 400 and err.value.param == "messages"
    with pytest.raises(ApiError) as err:
        chat_completion(request(), FakeService(error=IndexMissingError("no index at x")))
    assert err.value.status == 503 and err.value.code == "no_index"
    service = FakeService(answered(), error=RuntimeError("boom"), error_after=3)
    chunks = list(chat_completion_chunks(request(stream=True), service))
    assert chunks[-1]["error"]["type"] == "server_error" and "RuntimeError" in chunks[-1]["error"]["message"]
    assert service.closed


def test_a_stream_stopped_early_closes_the_answer() -> None:
    service = FakeService(answered())
    chunks = chat_completion_chunks(request(stream=True), service)
    next(chunks), next(chunks)
    chunks.close()  # what the server does when the client goes away
    assert service.closed


# --- access ------------------------------------------------------------------------------------------
def test_access_needs_the_key_when_one_is_set() -> None:
    check_access("Bearer s3cret", "example.org", "s3cret", loopback=False)
    check_access("bearer  s3cret ", "127.0.0.1:7860", "s3cret", loopback=True)
    for header in (None, "", "Bearer wrong", "Basic s3cret", "s3cret"):
        with pytest.raises(ApiError) as err:
            check_access(header, "127.0.0.1", "s3cret", loopback=True)
        assert err.value.status == 401 and err.value.code == "invalid_api_key"


def test_without_a_key_only_loopback_host_names_are_served() -> None:
    for host in ("127.0.0.1:7860", "localhost", "LOCALHOST:80", "[::1]:7860", "::1"):
        check_access(None, host, None, loopback=True)
    for host in ("evil.example:7860", "127.0.0.1.evil.example", None, "192.168.1.2"):
        with pytest.raises(ApiError) as err:
            check_access(None, host, None, loopback=True)
        assert err.value.status == 403
    with pytest.raises(ApiError):
        check_access(None, "127.0.0.1", None, loopback=False)


def test_a_non_loopback_bind_needs_a_password_and_a_key() -> None:
    from ui.app import launch

    with pytest.raises(PermissionError, match="NOTESQA_AUTH"):
        launch(Settings(host="0.0.0.0"), block=False)
    with pytest.raises(PermissionError, match="NOTESQA_API_KEY"):
        launch(Settings(host="0.0.0.0", auth="me:pw"), block=False)
    with pytest.raises(PermissionError, match="NOTESQA_API_KEY"):
        launch(Settings(host="192.168.1.10", auth="me:pw", api_key=""), block=False)


# --- the routes, in process ----------------------------------------------------------------------------
def client(service: FakeService, api_key: str | None = None, host: str = "127.0.0.1") -> Any:
    from fastapi.testclient import TestClient

    return TestClient(create_api(service, api_key=api_key, loopback=True), base_url=f"http://{host}:7860")


def test_routes_models_search_and_completion() -> None:
    c = client(FakeService(answered()))
    models = c.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == MODELS and models["data"][0]["knowledge_base"]["chunks"] == 126
    found = c.post("/v1/search", json={"query": "Kosmos-1 参数"}).json()
    assert len(found["data"]) == 3 and found["data"][0]["rank"] == 1 and found["data"][0]["path"] == "多模态 › Kosmos-1"
    assert {"score", "dense", "bm25", "source", "start", "end", "text"} <= set(found["data"][0])
    r = c.post("/v1/chat/completions", json={"model": MODELS[1], "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["citations"] == [{**CITE.to_dict(), "link": "obsidian://open?vault=v&file=001_kosmos.txt"}]


def test_a_scope_narrows_the_notes_answered_and_searched_from() -> None:
    service = FakeService(answered())
    c = client(service)
    ask = {"model": MODELS[1], "messages": [{"role": "user", "content": "q"}], "scope": {"in": ["papers/"]}}
    assert c.post("/v1/chat/completions", json=ask).status_code == 200
    assert c.post("/v1/search", json={"query": "q", "scope": {"tags": ["rag"]}}).status_code == 200
    assert service.scopes == [Scope(("papers/",)), Scope((), ("rag",))]
    bad = c.post("/v1/chat/completions", json={**ask, "scope": {"in": 5}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "scope"


def test_route_streams_server_sent_events() -> None:
    c = client(FakeService(answered()))
    with c.stream("POST", "/v1/chat/completions",
                  json={"stream": True, "messages": [{"role": "user", "content": "q"}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [x for x in r.iter_lines() if x]
    assert all(x.startswith("data: ") for x in lines) and lines[-1] == "data: [DONE]"
    chunks = [json.loads(x[6:]) for x in lines[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["choices"][0]["delta"]["citations"]


def test_a_client_that_goes_away_stops_the_answer() -> None:
    """The answer is stopped (and so lets go of the model) soon after the client closes the stream."""
    import time

    class Slow(FakeService):
        yielded = 0

        def stream(self, model: str, question: str, history: Any = (), scope: Any = None) -> Iterator[Any]:
            try:
                for item in answered(question):
                    time.sleep(0.2)
                    self.yielded += 1
                    yield item
            finally:
                self.closed = True

    import httpx

    from ui.app import Server

    service = Slow()
    server = Server(create_api(service, api_key=None, loopback=True), "127.0.0.1", 0).start()  # a real uvicorn
    try:
        with httpx.stream("POST", f"{server.url}v1/chat/completions", timeout=30,
                          json={"stream": True, "messages": [{"role": "user", "content": "q"}]}) as r:
            next(r.iter_lines())
        for _ in range(50):
            if service.closed:
                break
            time.sleep(0.05)
    finally:
        server.close()
    assert service.closed and service.yielded < len(answered())


def test_route_errors_are_openai_shaped() -> None:
    from rag.guard import QuestionError

    c = client(FakeService(error=QuestionError("The question is too long.")))
    cases = [
        c.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}),
        c.post("/v1/chat/completions", content=b'{"messages": []}', headers={"content-type": "text/plain"}),
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}], "model": "gpt-4"}),
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}]}),
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}], "stream": True}),
        c.post("/v1/search", json={"query": "x" * 51}),
    ]
    for r in cases:
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/json" and r.json()["error"]["message"]
    assert "Content-Type: application/json" in cases[1].json()["error"]["message"]
    assert cases[2].json()["error"]["code"] == "model_not_found"
    assert c.get("/v1/embeddings").status_code == 404 and "error" in c.get("/v1/embeddings").json()
    assert c.get("/v1/chat/completions").status_code == 405
    assert "error" in c.get("/v1/chat/completions").json()


def test_routes_check_the_key_and_the_host() -> None:
    keyed = client(FakeService(answered()), api_key="s3cret", host="192.168.1.10")
    r = keyed.get("/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert keyed.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    rebound = client(FakeService(answered()), host="evil.example")
    assert rebound.get("/v1/models").status_code == 403
    assert rebound.post("/v1/search", json={"query": "q"}).status_code == 403


# --- the real server, the real models (slow) --------------------------------------------------------------
def test_the_server_refuses_a_non_loopback_bind_without_a_key(tmp_path: Path) -> None:
    env = {**os.environ, "NOTESQA_AUTH": "me:pw", "NOTESQA_INDEX_DIR": str(tmp_path / "index"),
           "NOTESQA_DATA_DIR": str(tmp_path / "data")}
    env.pop("NOTESQA_API_KEY", None)
    done = subprocess.run([sys.executable, "-m", "ui.cli", "ui", "--host", "0.0.0.0", "--port", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "NOTESQA_API_KEY" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "index").exists()  # refused before ingesting or loading anything


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("api")
    notes = base / "notes"
    shutil.copytree(CORPUS, notes)
    with serve(notes, base / "index", base / "server.log") as url:
        yield url, notes


def _points_into_the_notes(citation: dict[str, Any], notes: Path) -> None:
    """A citation names a real note, and its text is that note's text at its offsets."""
    from ingest.loaders import note_text

    decoded = note_text((notes / citation["source"]).read_bytes())
    assert decoded is not None and decoded[0][citation["start"]:citation["end"]] == citation["text"]


@pytest.mark.slow
@pytest.mark.llm
def test_openai_client_gets_a_cited_answer(api_server: tuple[str, Path]) -> None:
    from openai import OpenAI

    url, notes = api_server
    client = OpenAI(base_url=f"{url}v1", api_key="not-needed-on-loopback", max_retries=0, timeout=300)
    assert "qwen2.5-coder-1.5b" in [m.id for m in client.models.list()]
    resp = client.chat.completions.create(model="qwen2.5-coder-1.5b",
                                          messages=[{"role": "user", "content": "Kosmos-1 有多少参数?"}])
    message = resp.choices[0].message
    assert "1.3" in (message.content or "") and resp.choices[0].finish_reason == "stop"
    citations = (message.model_extra or {})["citations"]
    assert citations and citations[0]["source"] == "001_f68183d21df79685.txt"
    for c in citations:
        _points_into_the_notes(c, notes)
        assert f"[^{c['n']}]: {c['source']} › " in (message.content or "")

    declined = client.chat.completions.create(model="qwen2.5-coder-1.5b", messages=[
        {"role": "user", "content": "What BLEU score did T5 get on WMT English-German translation?"}])
    assert "notes don" in (declined.choices[0].message.content or "")
    assert (declined.choices[0].message.model_extra or {})["notesqa"]["abstained"] is True


@pytest.mark.slow
@pytest.mark.llm
def test_openai_client_streams_a_follow_up(api_server: tuple[str, Path]) -> None:
    from openai import OpenAI

    url, notes = api_server
    client = OpenAI(base_url=f"{url}v1", api_key="x", max_retries=0, timeout=300)
    stream = client.chat.completions.create(model="qwen2.5-coder-1.5b", stream=True, messages=[
        {"role": "user", "content": "Kosmos-1 解决了什么问题?"},
        {"role": "assistant", "content": "视觉和文本领域的对齐。[^1]\n\n[^1]: 001_f68183d21df79685.txt › 4 主流大模型"},
        {"role": "user", "content": "它有多少参数?"}])  # answerable only with the history
    chunks = list(stream)
    thinking = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks
                       if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert thinking.startswith("> ")  # the quote from the notes came first
    assert "1.3" in content, content
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop"
    citations = (last.delta.model_extra or {})["citations"]
    assert citations
    for c in citations:
        _points_into_the_notes(c, notes)


@pytest.mark.slow
@pytest.mark.llm
def test_curl_reads_the_event_stream_and_search(api_server: tuple[str, Path]) -> None:
    url, notes = api_server
    body = json.dumps({"model": "qwen2.5-coder-1.5b", "stream": True,
                       "messages": [{"role": "user", "content": "Hugging Face 是哪一年在哪里创办的?"}]})
    done = subprocess.run(["curl", "-sN", "--max-time", "300", f"{url}v1/chat/completions",
                           "-H", "Content-Type: application/json", "-d", body],
                          capture_output=True, text=True, timeout=320, check=True)
    events = [x for x in done.stdout.split("\n\n") if x.strip()]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    final = chunks[-1]["choices"][0]
    assert final["finish_reason"] == "stop" and "2016" in final["delta"]["content"]
    assert "[^" in final["delta"]["content"] and final["delta"]["citations"]

    found = subprocess.run(["curl", "-s", f"{url}v1/search", "-H", "Content-Type: application/json",
                            "-d", json.dumps({"query": "Kosmos-1 参数", "k": 3})],
                           capture_output=True, text=True, timeout=60, check=True)
    data = json.loads(found.stdout)["data"]
    assert len(data) == 3 and data[0]["source"] == "001_f68183d21df79685.txt"
    assert data[0]["score"] >= data[1]["score"] >= data[2]["score"] and data[0]["dense"] > 0.8
    for hit in data:
        _points_into_the_notes(hit, notes)


@pytest.mark.slow
def test_a_non_loopback_server_needs_the_key(tmp_path: Path) -> None:
    import httpx

    notes = tmp_path / "notes"
    shutil.copytree(CORPUS, notes)
    env = {"NOTESQA_AUTH": "me:pw", "NOTESQA_API_KEY": "test-key-8c1f"}
    with serve(notes, tmp_path / "index", tmp_path / "server.log", host="0.0.0.0", env=env) as url:
        refused = httpx.get(f"{url}v1/models", timeout=30)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.post(f"{url}v1/search", json={"query": "Kosmos"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = httpx.post(f"{url}v1/search", json={"query": "Kosmos-1 参数"}, timeout=60,
                        headers={"Authorization": "Bearer test-key-8c1f"})
        assert ok.status_code == 200 and ok.json()["data"][0]["source"] == "001_f68183d21df79685.txt"
        assert httpx.get(url, timeout=30).status_code in (401, 200)  # the UI keeps its own password login


VAULT_NOTES = {
    "papers/retrieval.md": "---\ntags: [rag]\n---\n# Hybrid retrieval\n\nBM25 and dense vectors are fused by "
                           "reciprocal rank fusion.\nThe fusion constant k is 60.\n",
    "papers/speech.md": "---\ntags: [audio]\n---\n# Speech\n\nWhisper fuses nothing; it was trained on 680k hours "
                        "of audio.\n",
    "journal/today.md": "# Today\n\nRead about fusion of retrieval results #rag/ideas\n",
}


@pytest.mark.slow
def test_a_second_knowledge_base_is_searched_by_name_with_scope_lines_and_links(tmp_path: Path) -> None:
    from openai import OpenAI

    vault = tmp_path / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    for name, text in VAULT_NOTES.items():
        (vault / name).parent.mkdir(parents=True, exist_ok=True)
        (vault / name).write_text(text, encoding="utf-8")
    notes = tmp_path / "notes"
    shutil.copytree(CORPUS, notes)
    kbs = json.dumps({"vault": {"notes": str(vault), "index": str(tmp_path / "vault-index")}})
    env = {**os.environ, "NOTESQA_KNOWLEDGE_BASES": kbs, "NOTESQA_CORPUS_DIR": str(notes),
           "NOTESQA_INDEX_DIR": str(tmp_path / "index")}
    ingested = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", "--kb", "vault", "--json"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["files_added"] == 3
    with serve(notes, tmp_path / "index", tmp_path / "server.log", env={"NOTESQA_KNOWLEDGE_BASES": kbs}) as url:
        client = OpenAI(base_url=f"{url}v1", api_key="unused-on-loopback")
        models = {m.id: m.model_extra["knowledge_base"] for m in client.models.list()}
        assert models["qwen2.5-coder-1.5b@vault"]["notes"] == 3 and models["qwen2.5-coder-1.5b"]["notes"] == 5

        def search(**body: Any) -> list[dict[str, Any]]:
            done = client.post("/search", body={"query": "fusion of retrieval results", "k": 5, **body},
                               cast_to=object)
            return done["data"]  # type: ignore[index]

        everywhere = search(knowledge_base="vault")
        assert {h["source"] for h in everywhere} == set(VAULT_NOTES)
        assert all(h["source"].startswith("00") for h in search())  # the first knowledge base: the corpus
        assert {h["source"] for h in search(knowledge_base="vault", scope={"tags": ["rag"]})} == {
            "papers/retrieval.md", "journal/today.md"}
        assert {h["source"] for h in search(knowledge_base="vault", scope={"in": ["papers/"]})} == {
            "papers/retrieval.md", "papers/speech.md"}
        hit = next(h for h in everywhere if h["source"] == "papers/retrieval.md")
        first, last = hit["lines"]
        lines = VAULT_NOTES["papers/retrieval.md"].split("\n")
        assert "reciprocal rank fusion" in "\n".join(lines[first - 1:last]) and first > 3  # after front matter

        from gradio_client import Client

        ui = Client(url, verbose=False)
        # the UI's folder/#tag selector offers what the chosen knowledge base holds
        vault_choices = ui.predict("vault", api_name="/refresh_scope")
        notes_choices = ui.predict("notes", api_name="/refresh_scope")
        assert {"papers/", "journal/", "#rag", "#rag/ideas", "#audio"} <= set(_choices(vault_choices))
        assert not {"papers/", "#rag"} & set(_choices(notes_choices))


def _choices(update: Any) -> list[str]:
    """The choices of a dropdown update as gradio_client returns it."""
    return [c[0] if isinstance(c, list | tuple) else c for c in update["choices"]]
