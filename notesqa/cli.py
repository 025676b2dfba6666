"""``notesqa`` command line: a thin typer shell over ``ingest`` and ``rag`` (no retrieval logic here)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from notesqa.settings import Settings

app = typer.Typer(
    help="Local, private question answering over your own notes (Chinese + English).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index directory (default: settings.index_dir).")
]


def _settings(index: Path | None = None, **overrides: object) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if index is not None:
        settings.index_dir = index
    return settings


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from ingest.bundled_e5 import BundledModelError
    from ingest.loaders import NotesError
    from ingest.store import IndexCorruptError, IndexLockedError, IndexMissingError

    return (NotesError, IndexCorruptError, IndexLockedError, IndexMissingError, BundledModelError,
            FileNotFoundError, PermissionError)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Notes folder or files (default: the corpus).")] = None,
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything from scratch.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the summary.")] = False,
) -> None:
    """Ingest notes: embed new or changed files, drop deleted ones, swap the index in atomically."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.pipeline import ingest as run_ingest

    settings = _settings(index)
    console = Console(stderr=True)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=as_json, disable=not console.is_terminal and as_json)
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task({"files": "chunking notes", "chunks": "embedding chunks"}[stage],
                                         total=total)
        bars.update(tasks[stage], completed=done, total=total)

    try:
        with bars:
            report = run_ingest(settings, paths or (), rebuild=rebuild, progress=progress)
    except _user_errors() as exc:
        _fail(str(exc))
    for item in report.skipped:
        console.print(f"[yellow]skipped[/] {item.source}: {item.reason}")
    if as_json:
        typer.echo(json.dumps(report.summary()))
        return
    s = report.summary()
    console.print(
        f"[bold]{settings.index_dir}[/]: {s['files_added']} added, {s['files_changed']} changed, "
        f"{s['files_removed']} removed, {s['files_unchanged']} unchanged, {s['files_skipped']} skipped; "
        f"{s['chunks_embedded']} chunks embedded, {s['chunks_total']} in the index ({s['seconds']:.2f} s)."
    )


if __name__ == "__main__":  # pragma: no cover
    app()
