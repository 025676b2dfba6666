"""The conversations store: create, continue, list, rename, delete, export; a killed process keeps its turns."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from rag.turn import Citation, Evidence
from tests.conftest import ROOT
from ui.chats import ChatNotFoundError, ChatStore, ChatStoreError, title_from, with_footnotes

CITE = Citation("001_kosmos.txt", "c7", "数据和模型规模:1.3 B 的参数", 10, 30, "Kosmos", ("多模态", "Kosmos-1"), n=2,
                spans=((10, 20),))


@pytest.fixture()
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "data" / "chats.sqlite3")


def test_a_conversation_is_created_continued_and_read_back(store: ChatStore) -> None:
    conv = store.create()
    assert conv.title == "" and len(conv.id) == 12
    first = store.append_turn(conv.id, "Kosmos-1 有多少参数?", "1.3B 参数。 [2]", citations=[CITE], lang="zh",
                              model="m.gguf", reasoning="段落[2]说",
                              evidence=[Evidence("001_kosmos.txt", "c7", "1.3 B 的参数", 20, 30)])
    second = store.append_turn(conv.id, "它是哪一年发布的?", "笔记里没有找到这个问题的答案。", abstained=True,
                               reason="gate")
    assert (first.position, second.position) == (0, 1) and first.id != second.id
    got = store.get(conv.id)
    assert got.title == "Kosmos-1 有多少参数?"  # titled by the first question
    assert [t.question for t in got.turns] == ["Kosmos-1 有多少参数?", "它是哪一年发布的?"]
    assert got.turns[0].citations == [CITE] and got.turns[0].model == "m.gguf"
    assert got.turns[1].abstained and got.turns[1].reason == "gate" and got.turns[1].rating is None
    assert got.history() == [("Kosmos-1 有多少参数?", "1.3B 参数。 [2]"),
                             ("它是哪一年发布的?", "笔记里没有找到这个问题的答案。")]


def test_list_rename_delete(store: ChatStore) -> None:
    a, b = store.create("first"), store.create()
    store.append_turn(a.id, "q1", "a1")  # a was continued last: listed first
    listed = store.list()
    assert [c.id for c in listed] == [a.id, b.id] and [c.turn_count for c in listed] == [1, 0]
    assert listed[0].title == "first" and "first ·" in listed[0].label
    assert store.rename(b.id, "  renamed\n  chat ").title == "renamed chat"
    with pytest.raises(ValueError):
        store.rename(b.id, "   ")
    store.delete(a.id)
    assert [c.id for c in store.list()] == [b.id]
    with pytest.raises(ChatNotFoundError):
        store.get(a.id)
    with pytest.raises(ChatNotFoundError):
        store.append_turn(a.id, "q", "a")
    with pytest.raises(ChatNotFoundError):
        store.delete(a.id)
    with sqlite3.connect(store.path) as db:  # the deleted conversation's turns went with it
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0


def test_the_database_is_in_wal_mode_and_shared_by_two_stores(store: ChatStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conv = store.create()
    store.append_turn(conv.id, "q", "a")
    assert ChatStore(store.path).get(conv.id).turn_count == 1


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(ChatStoreError, match="newer"):
        ChatStore(path)


def test_footnotes_replace_the_markers() -> None:
    two = [CITE, replace(CITE, n=4, source="b.md", headings=(), title="B")]
    assert with_footnotes("1.3B 参数。 [2][4]", two) == (
        "1.3B 参数。[^2][^4]\n\n[^2]: 001_kosmos.txt › 多模态 › Kosmos-1\n[^4]: b.md › B")
    assert with_footnotes("笔记里没有找到这个问题的答案。", []) == "笔记里没有找到这个问题的答案。"
    assert with_footnotes("x [2]", [CITE], label=lambda n: f"3-{n}").startswith("x[^3-2]\n\n[^3-2]: ")


def test_exports(store: ChatStore) -> None:
    conv = store.create()
    store.append_turn(conv.id, "Kosmos-1 有多少参数?", "1.3B 参数。 [2]", citations=[CITE])
    store.append_turn(conv.id, "Why?", "The notes don't cover this question.", abstained=True, reason="gate",
                      notice="answered in English")
    md = store.export_markdown(conv.id)
    assert md.startswith("# Kosmos-1 有多少参数?\n")
    assert "## 1. Kosmos-1 有多少参数?" in md and "1.3B 参数。[^1-2]" in md
    assert "[^1-2]: 001_kosmos.txt › 多模态 › Kosmos-1" in md and "*answered in English*" in md
    data = json.loads(json.dumps(store.export_json(conv.id), ensure_ascii=False))
    assert data["id"] == conv.id and [t["position"] for t in data["turns"]] == [0, 1]
    assert data["turns"][0]["citations"][0]["source"] == "001_kosmos.txt"
    other = store.create("other")
    assert [c["id"] for c in store.export_json()["conversations"]] == [other.id, conv.id]
    assert store.export_markdown().count("\n---\n") == 1


def test_title_is_cut() -> None:
    assert title_from("  a\n b ") == "a b"
    long = title_from("问" * 100)
    assert len(long) == 60 and long.endswith("…")


CHILD = textwrap.dedent("""
    import sqlite3, sys, time
    from pathlib import Path
    from ui.chats import ChatStore
    store = ChatStore(Path(sys.argv[1]))
    conv = store.create()
    store.append_turn(conv.id, "finished question", "finished answer")
    db = sqlite3.connect(sys.argv[1])  # a second write under way when the process dies
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO conversations (id, title, created, updated) VALUES ('half', 'half', 0, 0)")
    print(conv.id, flush=True)
    time.sleep(600)
""")


def test_a_finished_turn_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        conv_id = child.stdout.readline().strip() if child.stdout else ""
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL and conv_id
    store = ChatStore(path)
    conv = store.get(conv_id)
    assert [(t.question, t.answer) for t in conv.turns] == [("finished question", "finished answer")]
    assert [c.id for c in store.list()] == [conv_id]  # the unfinished write is gone, and the file is writable
    store.append_turn(conv_id, "after the crash", "still works")
    assert store.get(conv_id).turn_count == 2
