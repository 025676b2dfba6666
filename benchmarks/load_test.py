"""Bounded load test: concurrent chat sessions against a real `notesqa ui` server, with a re-ingest midway.

Starts the UI on a free loopback port over a private copy of the notes, then runs ``--sessions`` chat sessions
in parallel (gradio_client, one client each) asking dev-set questions round-robin until each has asked
``--questions`` or ``--budget-s`` is spent; after ``--reingest-after-s`` one more client adds a note and presses
Re-ingest. Prints and writes JSON: requests, errors, p50/p95 latency, the longest queue seen, the server's peak
RSS, and whether the answers that overlapped the re-ingest were complete. Stops by itself.

    python benchmarks/load_test.py eval/dev.jsonl --sessions 8 --questions 3 --out runs/load.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.eval.scoring import percentile

ROOT = Path(__file__).resolve().parents[1]
NEW_NOTE = "# 负载测试笔记\n\n负载测试期间新增的笔记：项目 LT-9 的负责人是韩梅梅。\n"


@dataclass
class Request:
    session: int
    question: str
    start: float
    end: float
    ok: bool
    complete: bool
    """A final answer (or an abstention) with its sources panel, not an error or a cut-off stream."""
    max_queue_rank: int
    error: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (Linux /proc VmHWM)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _session(url: str, n: int, questions: list[str], count: int, deadline: float, out: list[Request]) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    for i in range(count):
        if time.monotonic() > deadline:
            return
        q = questions[(n * count + i) % len(questions)]
        t0 = time.monotonic()
        rank, ok, complete, error = 0, False, False, ""
        try:
            job = client.submit(q, [], 3, True, "qwen2.5-coder-1.5b", api_name="/respond")
            while not job.done():
                status = job.status()
                rank = max(rank, int(getattr(status, "rank", 0) or 0))
                time.sleep(0.2)
            chat, sources, _box = job.result()
            reply = str(chat[-1]["content"]) if chat else ""
            ok = True
            complete = bool(reply) and not reply.startswith(("⚠️", "⏳")) and "class=" in str(sources)
            if not complete:
                error = f"incomplete reply: {reply[:80]!r}"
        except Exception as exc:  # counted and reported: the test's whole point
            error = f"{type(exc).__name__}: {exc}"
        out.append(Request(n, q, t0, time.monotonic(), ok, complete, rank, error))


def _reingest(url: str, notes: Path, at: float, log: dict[str, object]) -> None:
    from gradio_client import Client

    time.sleep(max(0.0, at - time.monotonic()))
    (notes / "load_test_note.md").write_text(NEW_NOTE, encoding="utf-8")
    t0 = time.monotonic()
    summary, *_ = Client(url, verbose=False).predict(api_name="/reingest")
    log.update(start=t0, end=time.monotonic(), summary=summary)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions", type=Path, help="JSON Lines question set (its answerable questions are asked)")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--questions", dest="count", type=int, default=3, help="questions per session")
    ap.add_argument("--budget-s", type=float, default=240, help="no new question after this many seconds")
    ap.add_argument("--reingest-after-s", type=float, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "load.json")
    args = ap.parse_args()

    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r.get("type") not in ("unanswerable", "adversarial")]
    work = Path(tempfile.mkdtemp(prefix="notesqa-load-"))
    notes = work / "notes"
    shutil.copytree(ROOT / "corpus", notes)
    port = _free_port()
    env = {**os.environ, "NOTESQA_CORPUS_DIR": str(notes), "NOTESQA_INDEX_DIR": str(work / "index"),
           "NOTESQA_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    log_file = open(work / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "ui.cli", "ui"], cwd=ROOT, env=env, stdout=log_file,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit((work / "server.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        time.sleep(15)  # the server warms its models up in the background; let it finish like a user would
        t0 = time.monotonic()
        deadline = t0 + args.budget_s
        requests: list[Request] = []
        ingest_log: dict[str, object] = {}
        threads = [threading.Thread(target=_session, args=(url, n, questions, args.count, deadline, requests))
                   for n in range(args.sessions)]
        threads.append(threading.Thread(target=_reingest, args=(url, notes, t0 + args.reingest_after_s, ingest_log)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline + 180 - time.monotonic()))
        wall = time.monotonic() - t0
        peak = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()

    latencies = [r.end - r.start for r in requests if r.ok]
    during = [r for r in requests if ingest_log and r.start < ingest_log["end"] and r.end > ingest_log["start"]]
    result = {
        "sessions": args.sessions,
        "requests": len(requests),
        "errors": sum(1 for r in requests if not r.ok or not r.complete),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "throughput_per_min": round(len(latencies) / wall * 60, 2),
        "max_queue_rank_seen": max((r.max_queue_rank for r in requests), default=0),
        "server_peak_rss_mb": round(peak, 1),
        "reingest_s": round(float(ingest_log["end"]) - float(ingest_log["start"]), 2) if ingest_log else None,
        "reingest_summary": ingest_log.get("summary"),
        "answers_during_reingest": len(during),
        "answers_during_reingest_complete": sum(r.complete for r in during),
        "wall_s": round(wall, 1),
        "machine": f"{os.cpu_count()} cores",
        "requests_detail": [asdict(r) | {"latency_s": round(r.end - r.start, 2)} for r in requests],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    for key, value in result.items():
        if key != "requests_detail":
            print(f"{key:34} {value}")
    shutil.rmtree(work, ignore_errors=True)
    if result["errors"]:
        for r in requests:
            if r.error:
                print(f"  session {r.session}: {r.error}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
