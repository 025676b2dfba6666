"""Bad input, as a table: every case gets a clear message (or a safe outcome) and loses nothing.

Each row is (case, what we do, the text the user must see). Cases covered elsewhere with a real model or a
browser: a prompt-injection note (tests/rag/test_answer.py), HTML/JS rendered inert (tests/ui/test_app.py),
killed ingests (tests/ingest/test_pipeline.py).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.loaders import NotesError, load_notes
from ingest.notes import add_note, retire_note, safe_name
from ingest.store import IndexCorruptError, IndexMissingError, IndexWriteError, read_manifest
from notesqa.settings import Settings
from rag.guard import QuestionError, clean_question
from rag.llm import BundledGGUF, ModelFileError, ensure_bundled_gguf, model_path
from tests.conftest import CORPUS, ROOT

LIMIT = 2000


def _question(text: str) -> Callable[[Path], str]:
    def run(_: Path) -> str:
        return clean_question(text, LIMIT)
    return run


def _note(name: str, data: bytes) -> Callable[[Path], str]:
    """Ingest's loader on a folder holding one odd note: what it reads, or why it skipped it."""
    def run(tmp: Path) -> str:
        (tmp / name).write_bytes(data)
        notes, skipped = load_notes([tmp], tmp, 20_000_000)
        return "; ".join([f"read {n.source} as {n.encoding}: {n.text[:20]}" for n in notes]
                         + [f"skipped {s.source}: {s.reason}" for s in skipped])
    return run


def _big_note(tmp: Path) -> str:
    with open(tmp / "big.md", "wb") as fh:
        fh.truncate(50_000_000)  # 50 MB (sparse: costs no disk)
    return _note("ok.md", "小笔记。".encode())(tmp)


def _symlink_out(tmp: Path) -> str:
    (tmp / "notes").mkdir()
    (tmp / "secret.md").write_text("outside the notes folder", encoding="utf-8")
    os.symlink(tmp / "secret.md", tmp / "notes" / "link.md")
    return _note("ok.md", "笔记。".encode())(tmp / "notes")


def _upload(name: str, data: bytes) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        return str(add_note(Settings(corpus_dir=tmp, index_dir=tmp / "index", max_upload_mb=1), name, data)
                   .relative_to(tmp))
    return run


def _llm_path(content: bytes | None) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        path = tmp / "model.gguf"
        if content is not None:
            path.write_bytes(content)
        return str(model_path(Settings(llm_path=path)))
    return run


def _bundled(parts: list[bytes] | None) -> Callable[[Path], str]:
    """Reassembling a GGUF whose part packages are missing (None) or whose bytes are wrong."""
    def run(tmp: Path) -> str:
        import rag.llm as llm

        spec = BundledGGUF("fake-model", "fake-part", "notesqa_fake_part", 2, "1.0", 8, "0" * 64)
        llm.BUNDLED["fake"] = spec
        try:
            if parts is not None:
                files = []
                for i, data in enumerate(parts, 1):
                    files.append(tmp / f"part{i:02d}.bin")
                    files[-1].write_bytes(data)
                original, llm._part_files = llm._part_files, lambda _spec: files
                try:
                    return str(ensure_bundled_gguf("fake", tmp / "cache"))
                finally:
                    llm._part_files = original
            return str(ensure_bundled_gguf("fake", tmp / "cache"))
        finally:
            del llm.BUNDLED["fake"]
    return run


def _no_index(tmp: Path) -> str:
    return str(read_manifest(tmp / "index"))


def _no_current(tmp: Path) -> str:
    (tmp / "index" / "gen-000001").mkdir(parents=True)
    return str(read_manifest(tmp / "index"))


def _missing_folder(tmp: Path) -> str:
    from ingest.pipeline import ingest

    return str(ingest(Settings(corpus_dir=tmp / "nope", index_dir=tmp / "index")))


def _retire_outside(tmp: Path) -> str:
    (tmp / "a.md").write_text("x", encoding="utf-8")
    return str(retire_note(Settings(corpus_dir=tmp / "a.md", index_dir=tmp / "index"), "../../etc/passwd"))


def _third_language(tmp: Path) -> str:
    """A Russian question: answered (e5 is multilingual), in English, with a notice; the notice comes first,
    before any retrieval."""
    from rag.answer import Answerer
    from rag.turn import Event, EventKind

    first = next(Answerer(Settings(index_dir=tmp / "index")).stream("Сколько параметров у Kosmos-1?"))
    assert isinstance(first, Event) and first.kind == EventKind.NOTICE
    return first.text


CASES: list[tuple[str, Callable[[Path], str], str]] = [
    ("empty question", _question(""), "Please type a question"),
    ("whitespace question", _question(" \n\t\u3000 "), "Please type a question"),
    ("100 kB question", _question("参数" * 50_000), "the limit is 2000"),
    ("punctuation only", _question("？？？!!! ..."), "no words"),
    ("control characters are removed", _question("Kosmos-1\x00 有多少\x1b[31m参数\u200b?"),
     "Kosmos-1 有多少 [31m参数 ?"),
    ("third-language question", _third_language, "answer is in English"),
    ("binary note", _note("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8),
     "skipped photo.md: binary or undecodable content"),
    ("GBK note", _note("gbk.md", "# 机器学习笔记\n\n监督学习需要标注数据，无监督学习不需要。".encode("gbk")),
     "as gb18030: # 机器学习笔记"),
    ("UTF-16 note", _note("u16.txt", "笔记：Transformer 使用自注意力。".encode("utf-16")),
     "as utf-16: 笔记：Transformer"),
    ("empty note", _note("empty.md", b"  \n\n "), "skipped empty.md: empty"),
    ("50 MB note", _big_note, "skipped big.md: larger than 20 MB"),
    ("symlink out of the folder", _symlink_out, "skipped link.md: symlink points outside the notes folder"),
    ("path traversal in an upload name", _upload("../../x.md", "笔记。".encode()), "x.md"),
    ("wrong extension upload", _upload("notes.exe", b"MZ"), "only .md, .markdown and .txt notes"),
    ("binary upload named .md", _upload("a.md", bytes(range(256)) * 4), "not a text file"),
    ("upload over the size limit", _upload("big.md", b"a" * 1_100_000), "the upload limit is 1.0 MB"),
    ("hidden upload name loses its dot", _upload(".hidden.md", "笔记。".encode()), "hidden.md"),
    ("upload name that is only dots", _upload("...", b"x"), "is not a usable file name"),
    ("remove a path outside the notes", _retire_outside, "is not a note in"),
    ("model file missing", _llm_path(None), "does not exist"),
    ("model file not a GGUF", _llm_path(b"<html>not a model</html>"), "is not a GGUF model file"),
    ("model part package missing", _bundled(None), "Part 1/2 of fake-model is missing: install fake-part1==1.0"),
    ("corrupt model part", _bundled([b"GGUF", b"oops"]), "one of the packages fake-part1..2==1.0 is corrupt"),
    ("no index yet", _no_index, "Run `notesqa ingest` first"),
    ("index without CURRENT", _no_current, "Run `notesqa ingest --rebuild`"),
    ("notes folder missing", _missing_folder, "does not exist"),
]

ERRORS = (QuestionError, NotesError, ModelFileError, IndexMissingError, IndexCorruptError)


@pytest.mark.parametrize(("case", "run", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(case: str, run: Callable[[Path], str], expected: str, tmp_path: Path) -> None:
    try:
        outcome = run(tmp_path)
    except ERRORS as exc:
        outcome = str(exc)
    assert expected in outcome, f"{case}: {outcome}"


def test_the_table_has_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


def test_safe_name_never_keeps_folders() -> None:
    assert safe_name("..\\..\\evil.md") == "evil.md"


# --- cases that need the embedding model or a server process -----------------------------------------------

@pytest.mark.slow
def test_index_built_with_another_embedding_model_is_refused(settings: Settings, tmp_path: Path) -> None:
    from ingest.model_files import model_folder
    from ingest.pipeline import ingest
    from rag.retrieve import IndexHandle, IndexMismatchError

    ingest(settings)
    other = tmp_path / "other-e5"  # the same weights under another name: a different model to the index
    other.mkdir()
    for f in model_folder(settings).rglob("*"):
        target = other / f.relative_to(model_folder(settings))
        if f.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(f)
    with pytest.raises(IndexMismatchError, match="was built with the embedding model bundled:"):
        IndexHandle(settings.model_copy(update={"embed_model": other})).get()


@pytest.mark.slow
def test_index_with_keyword_tokens_of_another_version_is_refused_and_rebuilt(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.store as store
    from ingest.pipeline import ingest
    from rag.retrieve import IndexHandle, IndexMismatchError

    monkeypatch.setattr(store, "TOKENIZER_VERSION", 1)  # an index written before a name's pieces were added
    ingest(settings)
    monkeypatch.undo()
    with pytest.raises(IndexMismatchError, match="Run `notesqa ingest`"):
        IndexHandle(settings).get()
    assert ingest(settings).rebuilt
    IndexHandle(settings).get()


@pytest.mark.slow
def test_disk_full_during_ingest_keeps_the_previous_index(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.store as store
    from ingest.pipeline import ingest

    ingest(settings)
    before = read_manifest(settings.index_dir)
    (settings.corpus_dir / "new.md").write_text("# 新笔记\n\n磁盘满的时候不能丢数据。", encoding="utf-8")

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_fsync_tree", full)
    with pytest.raises(IndexWriteError, match=r"No space left on device.*the previous index is unchanged"):
        ingest(settings)
    monkeypatch.undo()
    assert read_manifest(settings.index_dir).generation == before.generation
    assert not [p for p in settings.index_dir.iterdir() if ".tmp" in p.name]
    assert ingest(settings).files_added == 1


@pytest.mark.slow
def test_port_already_in_use_is_one_clear_line(tmp_path: Path) -> None:
    from ingest.pipeline import ingest

    index = tmp_path / "index"
    ingest(Settings(corpus_dir=CORPUS, index_dir=index))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "NOTESQA_INDEX_DIR": str(index), "NOTESQA_PORT": str(port)}
        proc = subprocess.run([sys.executable, "-m", "ui.cli", "ui"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
