"""Nothing leaves the machine: the whole pipeline runs with non-loopback connections refused (slow), and
library telemetry is off."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from notesqa.settings import Settings


@pytest.mark.slow
@pytest.mark.llm
def test_ingest_and_answer_with_the_network_blocked(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else None
        try:
            loopback = host is not None and ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback:
            attempts.append(address)
            raise OSError(f"network blocked by test: {address}")
        real_connect(self, address)

    def no_dns(*args: object, **kwargs: object) -> None:
        attempts.append(args[:1])
        raise OSError("DNS blocked by test")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)

    from ingest.pipeline import ingest
    from rag.answer import Answerer

    report = ingest(settings)
    assert report.chunks_total > 0
    final = Answerer(settings).answer("Kosmos-1 有多少参数?")
    assert "1.3" in final.answer
    assert attempts == []


@pytest.mark.parametrize("flag", ["HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED"])
def test_every_command_turns_library_telemetry_off(flag: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from typer.testing import CliRunner

    from ui.cli import app

    monkeypatch.delenv(flag, raising=False)
    CliRunner().invoke(app, ["ingest", str(tmp_path / "missing"), "--index", str(tmp_path / "index")])
    assert os.environ[flag] in ("1", "False")
