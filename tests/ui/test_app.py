"""The UI served for real on loopback, driven by gradio_client and by headless Chromium (slow)."""

from __future__ import annotations

import contextlib
import html
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, ROOT
from ui.app import is_loopback
from ui.render import sources_html

ARTIFACTS = ROOT / "tests" / "artifacts"
XSS_NOTE = (
    "# 安全测试笔记\n\n项目 XSS-7 的说明如下：<img src=x onerror=alert(1)> 和 <script>alert(2)</script>"
    " 这两段代码必须原样显示，不能执行。\n"
)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_sources_are_rendered_inert() -> None:
    from rag.turn import Answer, Citation

    answer = Answer(
        question="q",
        answer="a",
        citations=[
            Citation("x<script>.md", "c1", "<img src=x onerror=alert(1)> and <script>alert(2)</script>", 0, 40,
                     "<b>t</b>", ("h",), n=1, spans=((0, 10),))
        ],
    )
    out = sources_html(answer, lambda s: "<script>alert(3)</script>" * 3)
    assert "<script>" not in out and "<img" not in out
    assert html.escape("<img src=x onerror=alert(1)>")[:10] in out


def test_building_the_app_starts_no_thread_and_loads_no_model(tmp_path: Path) -> None:
    """The models load ahead of the first question only when the launcher asks (``notesqa ui`` does)."""
    import threading

    from notesqa.settings import Settings
    from tests.helpers.fakes import FakeAnswerer, FakeService
    from ui.app import build_app, start_warm_up

    warmed: list[str] = []

    class Warming(FakeAnswerer):
        def warm_up(self) -> str:
            warmed.append(self.model)
            return "loaded"

    class Service(FakeService):
        def answerer(self, model: str | None = None, passages: int | None = None,
                     kb: str | None = None) -> FakeAnswerer:
            return Warming(self, model or self.default_model)

    settings = Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", corpus_dir=tmp_path / "notes")
    service = Service(settings=settings)
    before = set(threading.enumerate())
    build_app(settings, service)  # type: ignore[arg-type]
    assert set(threading.enumerate()) - before == set() and warmed == []
    start_warm_up(service).join(timeout=30)  # type: ignore[arg-type]
    assert warmed == [service.default_model]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    notes: Path, index: Path, log_path: Path, host: str = "127.0.0.1", env: dict[str, str] | None = None
) -> Iterator[str]:
    """`notesqa ui` in a subprocess on a free port of ``host`` (loopback unless told), with ``env`` added to
    its environment; yields its URL on loopback."""
    port = _free_port()
    env = {
        **os.environ,
        "NOTESQA_CORPUS_DIR": str(notes),
        "NOTESQA_INDEX_DIR": str(index),
        "NOTESQA_DATA_DIR": str(index.parent / "data"),
        "NOTESQA_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env or {}),
    }
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "ui", "--host", host],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 300
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text())
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(1)
            else:
                raise RuntimeError("UI did not start")
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("ui")
    notes = base / "notes"
    shutil.copytree(CORPUS, notes)
    (notes / "xss.md").write_text(XSS_NOTE, encoding="utf-8")
    with serve(notes, base / "index", base / "server.log") as url:
        yield url, notes


@contextlib.contextmanager
def chromium(url: str, height: int) -> Iterator[Any]:
    """Debian's headless Chromium (skips when it is not installed) with one page open on ``url``."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        pytest.skip("Debian chromium is not installed (make setup installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=binary,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            page.goto(url)
            yield page
        finally:
            browser.close()


def _ask(client, question: str) -> tuple[list[dict[str, object]], str]:  # type: ignore[no-untyped-def]
    # gr.State inputs/outputs are not part of the API: (question, chat, passages, reasoning, model, scope, kb)
    chat, sources, _box = client.predict(question, [], 3, True, "qwen2.5-coder-1.5b", [], "notes",
                                         api_name="/respond")
    return chat, sources


@pytest.mark.slow
@pytest.mark.llm
def test_chat_answers_with_sources_and_abstains(server: tuple[str, Path]) -> None:
    from gradio_client import Client

    url, _ = server
    client = Client(url, verbose=False)
    chat, sources = _ask(client, "Kosmos-1 有多少参数?")
    answer = str(chat[-1]["content"])
    assert "1.3" in answer
    assert "001_f68183d21df79685.txt" in sources and "<mark>" in sources
    chat, sources = _ask(client, "What BLEU score did T5 get on WMT English-German translation?")
    assert "notes don" in str(chat[-1]["content"])
    assert "passages searched" in sources


@pytest.mark.slow
@pytest.mark.llm
def test_upload_and_reingest_make_a_new_note_answerable(server: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    url, notes = server
    client = Client(url, verbose=False)
    note = tmp_path / "zebra_project.md"
    note.write_text("# Zebra 项目\n\nZebra 项目的代号是 ZX-42，负责人是李雷，预算为 37 万元。\n", encoding="utf-8")
    summary, *_ = client.predict([handle_file(str(note))], "notes", api_name="/upload")
    assert "zebra_project.md" in summary and "1 added" in summary
    assert (notes / "zebra_project.md").is_file()
    chat, sources = _ask(client, "ZX-42 项目的负责人是谁?")
    assert "李雷" in str(chat[-1]["content"])
    assert "zebra_project.md" in sources


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.browser
def test_browser_asks_and_sees_the_streamed_answer_and_sources(server: tuple[str, Path]) -> None:
    url, _ = server
    with chromium(url, height=1400) as page:
        page.locator("#question textarea").fill("Kosmos-1 有多少参数?")
        page.locator("#ask").click()
        page.wait_for_selector("#sources .cited", timeout=180_000)  # the answer's sources (not the early quote)
        assert "001_f68183d21df79685.txt" in page.locator("#sources").inner_text()
        assert "1.3" in page.locator("#chat").inner_text()
        page.screenshot(path=str(ARTIFACTS / "ui_answer.png"), full_page=True)

        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.locator("#question textarea").fill("XSS-7 项目的说明是什么?")  # typed before the new chat
        page.get_by_text("新对话 / New chat").click()
        page.wait_for_function("!document.querySelector('#sources').innerText.includes('001_f68183d21df79685')",
                               timeout=30_000)
        assert page.locator("#chat").inner_text().count("Kosmos-1") == 0  # the chat is empty
        assert page.locator("#question textarea").input_value() == "XSS-7 项目的说明是什么?"  # the question stays
        page.locator("#ask").click()
        page.wait_for_function(
            "document.querySelector('#sources') && document.querySelector('#sources').innerText.includes('xss.md')",
            timeout=180_000,
        )
        page.wait_for_timeout(1000)
        assert "<script>alert(2)</script>" in page.locator("#sources").inner_text()  # shown as text
        assert page.locator("#sources script").count() == 0 and page.locator("#sources img").count() == 0
        assert dialogs == []
        page.screenshot(path=str(ARTIFACTS / "ui_xss_inert.png"), full_page=True)
    assert (ARTIFACTS / "ui_answer.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.llm
@pytest.mark.browser
def test_browser_shows_the_quote_from_the_notes_before_the_model_writes(server: tuple[str, Path]) -> None:
    from ui.render import REASONING_TITLE

    url, _ = server
    with chromium(url, height=1200) as page:
        # when each part first shows in the chat, by the page's own clock
        page.evaluate(
            """([quote, reasoning]) => { window.seen = {};
            new MutationObserver(() => { const t = document.querySelector('#chat')?.innerText || '';
                const now = performance.now();
                if (t.includes(quote) && !window.seen.quote) window.seen.quote = now;
                if (t.includes(reasoning) && !window.seen.reasoning) window.seen.reasoning = now;
            }).observe(document.body, {subtree: true, childList: true, characterData: true}); }""",
            ["笔记原文", REASONING_TITLE.split(" ")[0]],
        )
        page.locator("#question textarea").fill("Kosmos-1 有多少参数?")
        page.locator("#ask").click()
        page.wait_for_function("window.seen.quote", timeout=180_000)
        page.screenshot(path=str(ARTIFACTS / "ui_evidence_first.png"), full_page=True)
        assert "1.3 B" in page.locator("#sources").inner_text()  # the quote, highlighted in the sources panel
        page.wait_for_function("document.querySelector('#sources .cited')", timeout=180_000)
        seen = page.evaluate("window.seen")
    assert seen["quote"] < seen["reasoning"], seen


@pytest.mark.slow
def test_watch_toggle_reingests_a_new_note(server: tuple[str, Path]) -> None:
    from gradio_client import Client

    url, notes = server
    client = Client(url, verbose=False)
    state, _timer = client.predict(True, "notes", api_name="/toggle_watch")
    assert "watching" in state
    try:
        time.sleep(1.0)
        (notes / "watched_in_ui.md").write_text("# 企鹅\n\n帝企鹅能潜到五百米深。", encoding="utf-8")
        deadline = time.time() + 90
        log = ""
        while time.time() < deadline and "watched_in_ui.md" not in log:
            time.sleep(1)
            log, _table, _status = client.predict("notes", api_name="/watch_log")
        assert "added watched_in_ui.md" in log and "1 added" in log
    finally:
        client.predict(False, "notes", api_name="/toggle_watch")


@pytest.mark.slow
@pytest.mark.llm
def test_damaged_index_is_shown_and_reingest_repairs_it(tmp_path: Path) -> None:
    from gradio_client import Client

    from ingest.pipeline import ingest
    from ingest.store import current_generation
    from notesqa.settings import Settings

    notes = tmp_path / "notes"
    shutil.copytree(CORPUS, notes)
    index = tmp_path / "index"
    ingest(Settings(corpus_dir=notes, index_dir=index))
    (current_generation(index) / "chunks.jsonl").write_text("{truncated", encoding="utf-8")
    with serve(notes, index, tmp_path / "server.log") as url:
        client = Client(url, verbose=False)
        chat, _sources = _ask(client, "Kosmos-1 有多少参数?")
        assert "damaged" in str(chat[-1]["content"]) and "--rebuild" in str(chat[-1]["content"])
        summary, *_ = client.predict("notes", api_name="/reingest")
        assert "rebuilt a damaged index" in summary
        chat, sources = _ask(client, "Kosmos-1 有多少参数?")
        assert "damaged" not in str(chat[-1]["content"]) and "001_f68183d21df79685.txt" in sources


def test_evidence_is_labelled_as_a_quote_and_rendered_inert() -> None:
    from rag.turn import Evidence
    from ui.render import EVIDENCE_TITLE, evidence_html, evidence_markdown

    e = Evidence("a<b>.md", "c1", "第一行 <script>alert(1)</script>\n第二行", 10, 40, "T", ("H1", "H2"))
    md = evidence_markdown([e])
    assert md.startswith(f"**{EVIDENCE_TITLE}**") and "<script>" not in md and "> 第二行" in md
    assert "a&lt;b&gt;.md › H1 › H2" in md
    panel = evidence_html([e])
    assert "<script>" not in panel and "<mark>" in panel and "chars 10–40" in panel
    assert evidence_html([]) == ""
