"""Run `notesqa ingest` with every file write and rename slowed down, so a test can kill it mid-write."""

from __future__ import annotations

import os
import sys
import time

import ingest.store as store

DELAY = float(os.environ.get("SLOW_INGEST_DELAY", "0.3"))
_replace = os.replace


def slow_replace(src, dst):  # type: ignore[no-untyped-def]
    print(f"replace {src} -> {dst}", flush=True)
    time.sleep(DELAY)
    _replace(src, dst)
    time.sleep(DELAY)


store.os.replace = slow_replace  # type: ignore[attr-defined]

if __name__ == "__main__":
    from ui.cli import app

    sys.argv = ["notesqa", *sys.argv[1:]]
    app()
