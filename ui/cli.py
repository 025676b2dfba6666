"""``notesqa`` command line: a thin typer shell over ``ingest`` and ``rag`` (no retrieval logic here)."""

from __future__ import annotations

import json
import logging
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic_settings import SettingsConfigDict

from notesqa.settings import Settings

if TYPE_CHECKING:
    from ui.chats import ChatStore

app = typer.Typer(
    help="Local, private question answering over your own notes (Chinese + English).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index directory (default: settings.index_dir).")
]
KbOpt = Annotated[str | None, typer.Option(
    "--kb", help="A knowledge base named in settings.knowledge_bases: its notes folder and index.")]


def _settings(index: Path | None = None, kb: str | None = None, **overrides: object) -> Settings:
    from notesqa.settings import UnknownKnowledgeBaseError

    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    try:
        settings = settings.for_knowledge_base(kb)
    except UnknownKnowledgeBaseError as exc:
        _fail(str(exc))
    if index is not None:
        settings.index_dir = index
    return settings


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from ingest.bundled_e5 import BundledModelError
    from ingest.loaders import NotesError
    from ingest.store import IndexCorruptError, IndexLockedError, IndexMissingError, IndexWriteError

    return (NotesError, IndexCorruptError, IndexLockedError, IndexMissingError, IndexWriteError,
            BundledModelError, FileNotFoundError, PermissionError)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    from ingest.model_files import offline_env

    offline_env()  # no model hub, no telemetry, whatever the command
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Notes folder or files (default: the corpus).")] = None,
    index: IndexOpt = None,
    kb: KbOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything from scratch.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object with the summary; progress goes to stderr as JSON lines.")] = False,
    per_file: Annotated[bool, typer.Option(
        "--report", help="Also list every file: chunks, title, tags, links, pages, or why it was skipped.")] = False,
) -> None:
    """Ingest notes: embed new or changed files, drop deleted ones, swap the index in atomically."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ingest.pipeline import ingest as run_ingest
    from ui.progress import STAGES, JsonProgress

    settings = _settings(index, kb)
    console = Console(stderr=True)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, disable=as_json)
    tasks: dict[str, int] = {}
    lines = JsonProgress(sys.stderr)

    def progress(stage: str, done: int, total: int) -> None:
        if as_json:  # machine-readable lines on stderr; stdout keeps the one summary object
            lines(stage, done, total)
            return
        if stage not in tasks:
            tasks[stage] = bars.add_task(STAGES.get(stage, stage), total=total)
        bars.update(tasks[stage], completed=done, total=total)

    try:
        with bars:
            report = run_ingest(settings, paths or (), rebuild=rebuild, progress=progress)
    except _user_errors() as exc:
        _fail(str(exc))
    if not per_file:
        for item in report.skipped:
            console.print(f"[yellow]skipped[/] {item.source}: {item.reason}")
    if as_json:
        typer.echo(json.dumps(report.summary(per_file), ensure_ascii=False))
        return
    if per_file:
        for item in report.files:
            typer.echo(item.describe())
    console.print(f"[bold]{settings.index_dir}[/]: {report.describe()}")


def _ensure_index(settings: Settings) -> None:
    """Ingest the configured corpus when there is no index yet (eval and ask need one)."""
    from ingest.pipeline import ingest as run_ingest
    from ingest.store import IndexMissingError, read_manifest

    try:
        read_manifest(settings.index_dir)
    except IndexMissingError:
        typer.secho(f"No index at {settings.index_dir}: ingesting {settings.corpus_dir} first.", err=True)
        run_ingest(settings)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question (Chinese or English).")],
    index: IndexOpt = None,
    kb: KbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as one JSON object.")] = False,
    no_reasoning: Annotated[bool, typer.Option("--no-reasoning", help="Hide the reasoning.")] = False,
    places: Annotated[list[str] | None, typer.Option(
        "--in", help="Only notes in this folder, file or pattern (papers/, 'papers/*.pdf'); repeatable.")] = None,
    tags: Annotated[list[str] | None, typer.Option(
        "--tag", help="Only notes with this tag (nested tags included); repeatable.")] = None,
) -> None:
    """Answer a question from your notes: the best quotes from them at once, then the streamed reasoning and
    answer."""
    from rich.console import Console

    from rag.answer import Answerer
    from rag.guard import QuestionError
    from rag.llm import ModelFileError
    from rag.scope import Scope, ScopeError
    from rag.turn import Answer, EventKind

    settings = _settings(index, kb)
    scope = Scope.of(places or (), tags or ())
    out = Console(highlight=False)
    final: Answer | None = None
    section = ""
    try:
        _ensure_index(settings)
        answerer = Answerer(settings)
        for item in answerer.stream(question, scope=scope):
            if isinstance(item, Answer):
                final = item
            elif as_json:
                continue
            elif item.kind == EventKind.NOTICE:
                out.print(f"[dim]{item.text}[/]")
            elif item.kind == EventKind.EVIDENCE and item.evidence:
                out.print("[bold]笔记原文 / from your notes[/] [dim](a quote, not the answer)[/]")
                for e in item.evidence:
                    out.print(f"  “{e.text}”", markup=False)
                    out.print(f"  — {e.source} · {e.path}", style="dim", markup=False)
            elif item.kind == EventKind.REPLACE:
                out.print(f"\n[dim]in English:[/] {item.text}", end="")
            elif item.kind in (EventKind.REASONING, EventKind.ANSWER):
                reasoning = item.kind == EventKind.REASONING
                if reasoning and no_reasoning:
                    continue
                if item.kind != section:
                    out.print(f"\n[dim]{'思考 / reasoning' if reasoning else '答案 / answer'}:[/] ", end="")
                    section = item.kind
                out.print(item.text, end="", style="dim" if reasoning else None)
    except (*_user_errors(), QuestionError, ModelFileError, ScopeError) as exc:
        _fail(str(exc))
    assert final is not None
    if as_json:
        typer.echo(json.dumps(final.to_dict(), ensure_ascii=False))
        return
    out.print()
    if final.abstained or section != "answer":
        out.print(f"\n[bold]{final.answer}[/]")
        if final.reasoning and not no_reasoning and section != "reasoning":
            out.print(f"[dim]{final.reasoning}[/]")
    else:
        out.print(f"\n[bold]→[/] {final.answer}")
    from ui.render import where

    for c in final.citations:
        out.print(f"  [{c.n}] {c.source} · {c.path} · {where(c)}", markup=False)
        link = answerer.handle.get().link(c.source)
        if link:
            out.print(f"      {link}", style="dim", markup=False)
    t = final.timings
    out.print(f"[dim]first token {t.get('first_token') or 0:.1f}s · total {t.get('total') or 0:.1f}s[/]")


@app.command()
def ui(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 7860).")] = None,
) -> None:
    """Start the chat UI and the OpenAI-compatible API at /v1 (ingests the default corpus first if there is no
    index)."""
    from ingest.store import IndexCorruptError
    from ui.app import check_exposure, launch

    settings = _settings(index, host=host, port=port)
    try:
        check_exposure(settings)  # before any ingest or model load
        try:
            _ensure_index(settings)
        except IndexCorruptError as exc:  # the UI shows it and its Re-ingest button rebuilds
            typer.secho(f"warning: {exc}", fg=typer.colors.YELLOW, err=True)
        typer.secho(f"notesqa UI on http://{settings.host}:{settings.port}/ (API: /v1)", err=True)
        launch(settings, warm_up=True)  # the models load before the first question comes
    except (*_user_errors(), ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot serve on {settings.host}:{settings.port}: {exc}")


@app.command()
def watch(
    path: Annotated[Path | None, typer.Argument(help="Notes folder (default: the one the index mirrors).")] = None,
    index: IndexOpt = None,
    kb: KbOpt = None,
    debounce_ms: Annotated[
        int | None, typer.Option("--debounce-ms", help="Wait for this much quiet first (default: watch_debounce_ms).")
    ] = None,
) -> None:
    """Re-ingest automatically whenever notes change (Ctrl+C stops); one log line per change."""
    from rich.console import Console

    from ingest.pipeline import IngestReport
    from ingest.pipeline import ingest as run_ingest
    from ingest.watch import NoteChange
    from ingest.watch import watch as watch_notes

    settings = _settings(index, kb)
    console = Console(stderr=True, highlight=False)

    def log(changes: list[NoteChange], report: IngestReport | None, error: str | None) -> None:
        stamp = time.strftime("%H:%M:%S")
        for change in changes:
            console.print(f"[dim]{stamp}[/] {change}")
        if report is not None:
            console.print(f"[dim]{stamp}[/] {report.describe()}")
        else:
            console.print(f"[dim]{stamp}[/] [red]re-ingest failed:[/] {error}")

    try:
        first = run_ingest(settings, [path] if path else (), lock_wait_s=settings.ingest_lock_wait_s)
        console.print(f"{settings.index_dir}: {first.describe()}")
        console.print(f"watching {path or 'the notes folder'} (Ctrl+C to stop)")
        watch_notes(settings, path, on_change=log, debounce_ms=debounce_ms)
    except _user_errors() as exc:
        _fail(str(exc))


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Argument(help="Question set (JSON Lines, like eval/dev.jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.jsonl and reports.")] = Path(
        "runs/latest"),
    index: IndexOpt = None,
    retrieval_only: Annotated[bool, typer.Option("--retrieval-only", help="Score retrieval only.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N questions.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A notesqa.toml with overrides.")] = None,
    compare: Annotated[list[Path] | None, typer.Option("--compare", help="Also compare with these run dirs.")] = None,
) -> None:
    """Score the whole pipeline on a question set; writes results.jsonl, report.json and report.html."""
    from rich.console import Console
    from rich.progress import Progress

    from rag.eval.report import write_compare
    from rag.eval.runner import run_eval

    settings = _settings_from_config(config, index)
    console = Console(stderr=True)
    try:
        _ensure_index(settings)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("evaluating", total=None)
            report = run_eval(settings, questions, out, retrieval_only=retrieval_only, limit=limit,
                              tick=lambda n, total: bar.update(task, completed=n, total=total))
        if compare:
            write_compare([out, *compare], out / "compare.html")
    except (*_user_errors(), ValueError) as exc:
        _fail(str(exc))
    _print_metrics(console, report)
    console.print(f"wrote {out}/results.jsonl, report.json, report.html")


@app.command()
def bench(
    questions: Annotated[Path, typer.Argument(help="Question set for retrieval and answering.")] = Path(
        "eval/dev.jsonl"),
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.json and bench.md.")] = Path("runs/bench"),
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes and a few questions (a few minutes).")] = False,
    sizes: Annotated[str | None, typer.Option("--sizes", help="Retrieval sizes, e.g. 1000,10000,1000000.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Some of: ingest,retrieval,answer.")] = None,
) -> None:
    """Measure ingest speed, retrieval latency at 10^3-10^6 chunks and answering latency; print a table."""
    from rich.console import Console

    from ui.bench import markdown, run_bench

    console = Console(stderr=True, highlight=False)
    parts = tuple(p.strip() for p in only.split(",")) if only else ("ingest", "retrieval", "answer")
    unknown = set(parts) - {"ingest", "retrieval", "answer"}
    if unknown:
        _fail(f"unknown --only part(s): {', '.join(sorted(unknown))}")
    if not questions.is_file():
        _fail(f"question set {questions} not found")
    try:
        size_list = [int(x.replace("_", "")) for x in sizes.split(",")] if sizes else None
    except ValueError:
        _fail(f"--sizes must be comma-separated integers, not {sizes!r}")
    try:
        result = run_bench(_settings(), questions, out, quick=quick, sizes=size_list, parts=parts,
                           log=lambda line: console.print(f"[dim]{line}[/]"))
    except (*_user_errors(), ValueError) as exc:
        _fail(str(exc))
    typer.echo(markdown(result))
    console.print(f"wrote {out}/bench.json and {out}/bench.md")


@app.command("eval-compare")
def eval_compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by `notesqa eval --out`.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("runs/compare.html"),
) -> None:
    """Put several eval runs side by side in one table and chart."""
    from rag.eval.report import write_compare

    try:
        rows = write_compare(runs, out)
    except FileNotFoundError as exc:
        _fail(str(exc))
    for name, r in rows.items():
        typer.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in r.items() if v is not None and k != "n"))
    typer.echo(f"wrote {out}")


chats_app = typer.Typer(help="Conversations kept by the chat UI (in data_dir/chats.sqlite3).", no_args_is_help=True)
app.add_typer(chats_app, name="chats")


class ExportFormat(StrEnum):
    """File formats of ``notesqa chats export``."""

    md = "md"
    json = "json"


def _chat_store(settings: Settings) -> ChatStore | None:
    """The conversations store, or None when there is none yet (reading never creates one)."""
    from ui.chats import DB_NAME, ChatStore, ChatStoreError

    if not (Path(settings.data_dir) / DB_NAME).is_file():
        return None
    try:
        return ChatStore.for_settings(settings)
    except ChatStoreError as exc:
        _fail(str(exc))
    return None


@chats_app.command("list")
def chats_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the conversations, most recently continued first: id, last change, turns, title."""
    store = _chat_store(_settings())
    conversations = store.list() if store is not None else []
    if not conversations and not as_json:
        typer.echo("No conversations yet.", err=True)
    for c in conversations:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
        if as_json:
            typer.echo(json.dumps({"id": c.id, "title": c.title, "updated": stamp, "turns": c.turn_count},
                                  ensure_ascii=False))
        else:
            typer.echo(f"{c.id}  {stamp}  {c.turn_count:>3}  {c.title}")


@chats_app.command("export")
def chats_export(
    conversation: Annotated[str | None, typer.Argument(help="Conversation id (default: all of them).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="md (sources as footnotes) or json.")] = (
        ExportFormat.md),
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output).")] = None,
) -> None:
    """Export one conversation, or all, as markdown or JSON."""
    from ui.chats import ChatNotFoundError

    store = _chat_store(_settings())
    if store is None:
        if conversation is not None:
            _fail(f"No conversation {conversation!r}: there are no conversations yet.")
        text = "" if fmt is ExportFormat.md else json.dumps({"conversations": []})
    else:
        try:
            text = (store.export_markdown(conversation) if fmt is ExportFormat.md else
                    json.dumps(store.export_json(conversation), ensure_ascii=False, indent=2))
        except ChatNotFoundError as exc:
            _fail(f"{exc.args[0]} (`notesqa chats list` shows the ids)")
    if out is None:
        typer.echo(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    typer.secho(f"wrote {out}", err=True)


feedback_app = typer.Typer(help="Ratings (thumbs up/down) of answers, from the UI and /v1/feedback.",
                           no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write (the eval question format).")],
) -> None:
    """Write every rated answer as an eval question (like eval/dev.jsonl); thumbs-down lines carry a `review`
    note: write the expected answer before using them with `notesqa eval`."""
    from ui.feedback import export_feedback

    store = _chat_store(_settings())
    try:
        if store is None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("", encoding="utf-8")
            n = 0
        else:
            n = export_feedback(store, out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    typer.secho(f"wrote {n} rated answer{'s' if n != 1 else ''} to {out}", err=True)


def _settings_from_config(config: Path | None, index: Path | None) -> Settings:
    if config is None:
        return _settings(index)
    if not config.is_file():
        _fail(f"config file {config} not found")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": str(config)})

    settings = _FromFile()
    if index is not None:
        settings.index_dir = index
    return settings


def _print_metrics(console: object, report: dict[str, object]) -> None:
    from rich.table import Table

    overall = report["overall"]
    table = Table(title=f"{report['mode']} · {overall['n']} questions")  # type: ignore[index]
    table.add_column("retriever")
    cols = ["hit@1", "hit@3", "hit@5", "mrr", "all_evidence@5"]
    for c in cols:
        table.add_column(c, justify="right")
    rows = {"hybrid": overall, **report.get("baselines", {})}  # type: ignore[dict-item]
    for name, m in rows.items():
        table.add_row(name, *(f"{m.get(c):.3f}" if m.get(c) is not None else "–" for c in cols))
    console.print(table)  # type: ignore[attr-defined]
    if report["mode"] == "full":
        keys = ["answer_correct", "keyword_recall", "citation_support", "unanswerable_abstain", "false_refusal",
                "adversarial_safe", "first_evidence_p50_s", "first_output_p50_s", "first_token_p50_s", "total_p50_s",
                "total_p95_s"]
        console.print("  ".join(f"{k}={overall.get(k)}" for k in keys))  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    app()
