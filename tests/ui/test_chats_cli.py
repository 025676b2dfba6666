"""`notesqa chats list` and `notesqa chats export`: read the UI's conversations without creating any."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rag.turn import Citation
from ui.chats import DB_NAME, ChatStore
from ui.cli import app

runner = CliRunner()
CITE = Citation("a.md", "c1", "t", 0, 1, "A", ("H",), n=1)


def _env(tmp_path: Path) -> dict[str, str]:
    return {"NOTESQA_DATA_DIR": str(tmp_path / "data")}


def test_list_and_export_when_there_are_none_creates_nothing(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["chats", "list"], env=_env(tmp_path))
    assert listed.exit_code == 0 and "No conversations yet" in listed.output
    missing = runner.invoke(app, ["chats", "export", "abc"], env=_env(tmp_path))
    assert missing.exit_code == 2 and "abc" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "data").exists()


def test_list_and_export_md_and_json(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "data" / DB_NAME)
    old = store.create()
    store.append_turn(old.id, "旧问题", "旧答案")
    conv = store.create()
    store.append_turn(conv.id, "What is in a.md?", "Something. [1]", citations=[CITE])

    listed = runner.invoke(app, ["chats", "list"], env=_env(tmp_path))
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert lines[0].startswith(conv.id) and lines[0].endswith("What is in a.md?") and lines[1].startswith(old.id)
    rows = [json.loads(x) for x in runner.invoke(app, ["chats", "list", "--json"], env=_env(tmp_path)).output
            .splitlines()]
    assert [r["id"] for r in rows] == [conv.id, old.id] and rows[0]["turns"] == 1

    out = tmp_path / "exports" / "one.md"
    md = runner.invoke(app, ["chats", "export", conv.id, "--format", "md", "--out", str(out)], env=_env(tmp_path))
    assert md.exit_code == 0, md.output
    assert out.read_text(encoding="utf-8").startswith("# What is in a.md?") and "[^1-1]: a.md › H" in out.read_text()

    everything = tmp_path / "all.json"
    js = runner.invoke(app, ["chats", "export", "--format", "json", "--out", str(everything)], env=_env(tmp_path))
    assert js.exit_code == 0, js.output
    data = json.loads(everything.read_text(encoding="utf-8"))
    assert [c["id"] for c in data["conversations"]] == [conv.id, old.id]
    assert data["conversations"][1]["turns"][0]["answer"] == "旧答案"

    stdout = runner.invoke(app, ["chats", "export", old.id, "--format", "json"], env=_env(tmp_path))
    assert json.loads(stdout.stdout)["id"] == old.id


def test_unknown_id_and_format_are_one_clear_line(tmp_path: Path) -> None:
    ChatStore(tmp_path / "data" / DB_NAME).create()
    unknown = runner.invoke(app, ["chats", "export", "nope"], env=_env(tmp_path))
    assert unknown.exit_code == 2 and "nope" in unknown.output and "chats list" in unknown.output
    bad = runner.invoke(app, ["chats", "export", "--format", "pdf"], env=_env(tmp_path))
    assert bad.exit_code != 0 and "Traceback" not in bad.output
