"""Ratings: stored on the turn at once, given through the API by completion id, exported as eval questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notesqa.settings import Settings
from rag.eval.dataset import load_questions
from tests.helpers.fakes import CITE, FakeService, abstained, answered
from ui.api import ApiError, RecentAnswers, chat_completion, chat_completion_chunks, feedback, parse_chat_request
from ui.chats import DB_NAME, ChatNotFoundError, ChatStore
from ui.cli import app
from ui.feedback import eval_record, export_feedback

MODEL = "qwen2.5-coder-1.5b"


@pytest.fixture()
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "data" / DB_NAME)


def test_a_rating_is_stored_changed_and_cleared(store: ChatStore) -> None:
    conv = store.create()
    turn = store.append_turn(conv.id, "q", "a")
    assert store.rate(turn.id, 1).rating == 1 and store.get(conv.id).turns[0].rating == 1
    assert store.rate(turn.id, -1).rating == -1
    assert store.rate(turn.id, None).rating is None and store.rated() == []
    with pytest.raises(ValueError):
        store.rate(turn.id, 5)
    with pytest.raises(ChatNotFoundError):
        store.rate(turn.id + 100, 1)


def test_rated_turns_become_eval_questions(store: ChatStore, tmp_path: Path) -> None:
    conv = store.create()
    first = store.append_turn(conv.id, "Kosmos-1 解决了什么问题?", "视觉和文本的对齐。 [1]", lang="zh")
    up = store.append_turn(conv.id, "Kosmos-1 有多少参数?", "Kosmos-1 有 1.3B 参数。 [1]", citations=[CITE], lang="zh")
    none = store.append_turn(conv.id, "T5 的 BLEU 是多少?", "笔记里没有找到这个问题的答案。", abstained=True,
                             reason="gate", lang="zh")
    refused = store.append_turn(conv.id, "写一封信", "我只根据你的笔记回答问题…", abstained=True, reason="refused")
    down = store.append_turn(conv.id, "它是哪年发布的?", "2020 年。 [1]", citations=[CITE], lang="zh")
    for turn, rating in ((up, 1), (none, 1), (refused, 1), (down, -1)):
        store.rate(turn.id, rating)
    out = tmp_path / "fb" / "rated.jsonl"
    assert export_feedback(store, out) == 4
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["type"] for r in rows] == ["fact", "unanswerable", "adversarial", "fact"]
    good = rows[0]
    assert good["id"] == f"fb{up.id}" and good["answer"] == "Kosmos-1 有 1.3B 参数。" and good["keywords"] == ["1.3"]
    assert good["evidence"] == [{"source": "001_kosmos.txt", "quote": "数据和模型规模:1.3 B 的参数"}]
    assert good["history"] == ["Kosmos-1 解决了什么问题?"] and good["rating"] == 1 and good["lang"] == "zh"
    assert rows[2]["lang"] == "zh"  # not stored with the turn: from the question
    assert rows[3]["answer"] == "" and "review" in rows[3] and rows[3]["system_answer"] == "2020 年。 [1]"
    assert first.id not in {r["turn_id"] for r in rows}
    questions = load_questions(out)  # what `notesqa eval` reads
    assert [q.type for q in questions] == ["fact", "unanswerable", "adversarial", "fact"]
    assert questions[0].keywords == ("1.3",) and questions[0].evidence[0].source == "001_kosmos.txt"


def test_an_english_decline_rated_down_asks_for_an_answer(store: ChatStore) -> None:
    conv = store.create()
    turn = store.rate(store.append_turn(conv.id, "What is CoT?", "The notes don't cover this question.",
                                        abstained=True, reason="gate").id, -1)
    row = eval_record(store.get(conv.id), turn)
    assert row["lang"] == "en" and row["type"] == "fact" and "should answer" in row["review"]


def test_api_feedback_rates_a_recent_answer_by_its_id(store: ChatStore) -> None:
    recent = RecentAnswers(size=2)
    req = parse_chat_request({"messages": [{"role": "user", "content": "Kosmos-1 解决了什么问题?"},
                                           {"role": "assistant", "content": "对齐。"},
                                           {"role": "user", "content": "它有多少参数?"}]}, [MODEL], MODEL)
    body = chat_completion(req, FakeService(answered("它有多少参数?")), recent=recent)
    done = feedback({"id": body["id"], "rating": "up"}, recent, store)
    assert done["rating"] == 1 and done["id"] == body["id"]
    conv = store.get(done["conversation_id"])
    assert conv.title == "API: 它有多少参数?"
    assert [(t.question, t.rating) for t in conv.turns] == [("Kosmos-1 解决了什么问题?", None), ("它有多少参数?", 1)]
    assert conv.turns[1].citations == [CITE] and conv.turns[1].model == "fake.gguf"
    again = feedback({"id": body["id"], "rating": "down"}, recent, store)  # re-rating: the same turn
    assert again["turn_id"] == done["turn_id"] and len(store.list()) == 1
    assert feedback({"turn_id": done["turn_id"], "rating": None}, recent, store)["rating"] is None

    streamed = list(chat_completion_chunks(parse_chat_request({"stream": True, "messages": [
        {"role": "user", "content": "T5?"}]}, [MODEL], MODEL), FakeService(abstained("T5?")), recent=recent))
    rated = feedback({"id": streamed[0]["id"], "rating": -1}, recent, store)
    assert store.get(rated["conversation_id"]).turns[0].abstained


@pytest.mark.parametrize(("body", "status"), [
    ({"id": "chatcmpl-unknown", "rating": "up"}, 404),
    ({"turn_id": 999, "rating": "up"}, 404),
    ({"id": "x", "rating": "great"}, 400),
    ({"id": "x", "rating": True}, 400),
    ({"id": "x"}, 400),
    ({"rating": "up"}, 400),
    ({"id": "x", "turn_id": 1, "rating": "up"}, 400),
    ({"turn_id": "1", "rating": "up"}, 400),
    ([], 400),
])
def test_bad_feedback_requests(store: ChatStore, body: object, status: int) -> None:
    with pytest.raises(ApiError) as err:
        feedback(body, RecentAnswers(), store)
    assert err.value.status == status


def test_only_the_latest_answers_can_be_rated(store: ChatStore) -> None:
    recent = RecentAnswers(size=1)
    req = parse_chat_request({"messages": [{"role": "user", "content": "q"}]}, [MODEL], MODEL)
    old = chat_completion(req, FakeService(abstained()), recent=recent)
    chat_completion(req, FakeService(abstained()), recent=recent)
    with pytest.raises(ApiError) as err:
        feedback({"id": old["id"], "rating": "up"}, recent, store)
    assert err.value.status == 404 and "latest 1" in err.value.message


def test_feedback_route_and_cli_export(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ui.api import create_api

    store = ChatStore(tmp_path / "data" / DB_NAME)
    client = TestClient(create_api(FakeService(), api_key=None, loopback=True, store=store),
                        base_url="http://127.0.0.1:7860")
    answer = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Kosmos-1?"}]}).json()
    r = client.post("/v1/feedback", json={"id": answer["id"], "rating": "up"})
    assert r.status_code == 200 and r.json()["rating"] == 1
    assert client.post("/v1/feedback", json={"id": "nope", "rating": "up"}).json()["error"]["code"] == \
        "unknown_completion"
    no_store = TestClient(create_api(FakeService(), api_key=None, loopback=True), base_url="http://127.0.0.1")
    assert no_store.post("/v1/feedback", json={"id": answer["id"], "rating": "up"}).status_code == 503

    out = tmp_path / "rated.jsonl"
    result = CliRunner().invoke(app, ["feedback", "export", "--out", str(out)],
                                env={"NOTESQA_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0 and "wrote 1 rated answer to" in result.output
    [row] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert row["question"] == "Kosmos-1?" and row["type"] == "fact" and row["keywords"] == ["1.3"]

    empty = CliRunner().invoke(app, ["feedback", "export", "--out", str(tmp_path / "none.jsonl")],
                               env={"NOTESQA_DATA_DIR": str(tmp_path / "nothing")})
    assert empty.exit_code == 0 and (tmp_path / "none.jsonl").read_text() == ""
    assert not (tmp_path / "nothing").exists()


@pytest.mark.slow
@pytest.mark.llm
def test_exported_ratings_are_replayed_by_notesqa_eval_with_a_report(dev_index: Settings, tmp_path: Path) -> None:
    """The loop closed on the real answer path: rated turns -> `feedback export` -> `notesqa eval` -> report."""
    from dataclasses import replace

    store = ChatStore(tmp_path / "data" / DB_NAME)
    conv = store.create()
    cite = replace(CITE, source="001_f68183d21df79685.txt")  # the default corpus's note that holds this quote
    up = store.append_turn(conv.id, "Kosmos-1 有多少参数?", "Kosmos-1 有 1.3B 参数。 [1]", citations=[cite], lang="zh")
    store.rate(up.id, 1)
    env = {"NOTESQA_DATA_DIR": str(tmp_path / "data"), "NOTESQA_CORPUS_DIR": str(dev_index.corpus_dir)}
    rated = tmp_path / "rated.jsonl"
    assert CliRunner().invoke(app, ["feedback", "export", "--out", str(rated)], env=env).exit_code == 0

    out = tmp_path / "replay"
    result = CliRunner().invoke(app, ["eval", str(rated), "--index", str(dev_index.index_dir), "--out", str(out)],
                                env=env)
    assert result.exit_code == 0, result.output
    [row] = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert row["id"] == f"fb{up.id}" and not row["abstained"] and "1.3" in row["answer"]
    overall = json.loads((out / "report.json").read_text(encoding="utf-8"))["overall"]
    assert overall["n"] == 1 and overall["answer_correct"] == 1.0  # the approved answer's "1.3" is a keyword
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
