"""The CLI: one JSON object from --json, one clear line (no traceback) for user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notesqa.settings import Settings
from ui.cli import app

runner = CliRunner()
KEYS = {"files_added", "files_changed", "files_removed", "files_unchanged", "files_skipped", "chunks_embedded",
        "chunks_total", "seconds"}


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("ingest", "ask", "eval", "eval-compare"):
        assert cmd in result.output


def test_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--index", str(tmp_path / "i")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    result = runner.invoke(app, ["ingest", str(tmp_path / "notes"), "--index", str(tmp_path / "i")])
    assert result.exit_code == 2 and "No notes" in result.output


def test_ask_without_question_text_fails_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "   ", "--index", str(tmp_path / "i")], env={
        "NOTESQA_CORPUS_DIR": str(tmp_path / "missing")})
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_settings_come_from_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notesqa.toml").write_text('top_k = 7\nport = 9000\n', encoding="utf-8")
    monkeypatch.setenv("NOTESQA_PORT", "9100")
    s = Settings()
    assert s.top_k == 7 and s.port == 9100 and s.host == "127.0.0.1"


@pytest.mark.slow
def test_ingest_json_is_exactly_one_object(tmp_path: Path) -> None:
    from tests.conftest import CORPUS

    args = ["ingest", str(CORPUS), "--index", str(tmp_path / "i"), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout.strip())
    assert set(data) == KEYS and data["files_added"] == 5
    lines = [json.loads(line)["progress"] for line in first.stderr.splitlines() if line.startswith("{")]
    embedded = [p for p in lines if p["stage"] == "chunks"]
    assert embedded and embedded[-1]["done"] == embedded[-1]["total"] == data["chunks_embedded"]
    assert embedded[-1]["eta_s"] == 0
    second = json.loads(runner.invoke(app, args).stdout.strip())
    assert second["chunks_embedded"] == 0 and second["files_unchanged"] == 5
