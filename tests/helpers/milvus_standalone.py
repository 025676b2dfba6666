"""A real Milvus server for tests: the Milvus 2.3 standalone binary that the PyPI package ``milvus`` carries
(compressed in the wheel and unpacked into the server's folder at start, so nothing is downloaded), reached over
gRPC at 127.0.0.1, with authentication on.

Every connection, clients' and its components' among themselves, goes to 127.0.0.1 (Milvus 2.3 itself binds its
gRPC ports on all interfaces). One such server per machine at a time: its embedded etcd always listens on
127.0.0.1:2379 and 2380, so a second one exits during its start.

Measured on 2 cores: a start takes 6-10 s (6 s of it unpacking the 250 MB of binaries on the first), a restart
after a kill ~10 s, a stop 1 s.
"""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

TOKEN = "root:Milvus"
"""The server's built-in account (authentication is on, so every client must give it)."""

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
"""Milvus components that register an address and call each other there."""

START_TIMEOUT_S = 120.0
RUN_DIR = Path("/tmp/milvus")
"""Where the server writes ``server_id_<pid>`` whatever its configuration."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MilvusStandalone:
    """One Milvus standalone server in ``base`` (binaries, configs, logs, data), on free loopback ports."""

    def __init__(self, base: Path):
        from milvus import MilvusServer

        self.base = base
        self.server: Any = MilvusServer(wait_for_started=False)
        self.server.set_base_dir(str(base))
        for component in COMPONENTS:
            # by default each registers the machine's first non-loopback address: keep their traffic on loopback
            self.server.config.set(f"{component}.ip", "127.0.0.1")
        self.server.config.set("authorization_enabled", True)
        # a stopped server's session lease must expire before it starts again: 30 s by default, a restart
        # then took 46 s instead of 10
        self.server.config.set("common.session.ttl", 10)
        # the package takes the first port from here on that it can bind (each other port likewise from the
        # usual Milvus default on)
        self.server.listen_port = _free_port()

    @property
    def uri(self) -> str:
        """Where clients connect now (a restart may move the server to the next free port)."""
        return f"http://127.0.0.1:{self.server.listen_port}"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    def start(self) -> None:
        """Start the server and wait until it reports healthy; stop it and raise if it exits or times out."""
        self.server.start()
        health = f"http://127.0.0.1:{self.server.webservice_port}/healthz"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server.server_proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"Milvus exited during start: {self._last_error()} (logs in {self.logs})")
            try:
                with opener.open(health, timeout=5) as resp:
                    if b"OK" in resp.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"Milvus did not report healthy in {START_TIMEOUT_S:.0f} s; see {self.logs}")

    def _last_error(self) -> str:
        """The last error Milvus logged (retries of components not yet up are logged as errors too)."""
        log = (self.logs / "milvus-stdout.log").read_text(encoding="utf-8", errors="replace")
        return next((line[:500] for line in reversed(log.splitlines()) if "[ERROR]" in line), "no error logged")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 1 s (the package's stop): a graceful stop of 2.3 standalone does not end
        (its nodes keep retrying the coordinators that stopped first). Flushed data survives it."""
        proc = self.server.server_proc
        self.server.stop()
        if proc is not None:  # a killed server leaves its id file behind in Milvus's fixed runtime folder
            (RUN_DIR / f"server_id_{proc.pid}").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove_files(self) -> None:
        """Delete the binaries and the data (~500 MB); the configs and logs stay with the test's temp folder."""
        for sub in ("bin", "data"):
            shutil.rmtree(self.base / sub, ignore_errors=True)
