"""Conversations that survive a restart: one SQLite database (WAL) in ``settings.data_dir``.

Every finished turn is written in its own transaction and committed before ``append_turn`` returns, with
``synchronous=FULL``, so a killed process (even ``kill -9``) never loses a turn that was shown as finished.
Each call opens its own short-lived connection, so the UI's worker threads, the API and a ``notesqa chats``
command in another process can use the same file at once (WAL lets readers run beside the one writer).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notesqa.settings import Settings
from rag.turn import Citation, Evidence

DB_NAME = "chats.sqlite3"
"""File name of the database inside ``settings.data_dir``."""

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the schema below; a database written by a newer notesqa is refused."""

TITLE_CHARS = 60
"""A new conversation is titled with the first question, cut to this many characters."""

MAX_TITLE_CHARS = 200
"""Longest title a rename accepts."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id       TEXT PRIMARY KEY,
    title    TEXT NOT NULL,
    created  REAL NOT NULL,
    updated  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    created         REAL NOT NULL,
    abstained       INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    reasoning       TEXT NOT NULL DEFAULT '',
    notice          TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    lang            TEXT NOT NULL DEFAULT '',
    citations       TEXT NOT NULL DEFAULT '[]',
    evidence        TEXT NOT NULL DEFAULT '[]',
    rating          INTEGER,
    rated           REAL,
    UNIQUE (conversation_id, position)
);
CREATE INDEX IF NOT EXISTS turns_rated ON turns(rating) WHERE rating IS NOT NULL;
"""


class ChatNotFoundError(LookupError):
    """No conversation (or turn) with that id; the message says which."""


class ChatStoreError(RuntimeError):
    """The conversations database cannot be used (unreadable, or written by a newer version)."""


@dataclass(frozen=True)
class SavedTurn:
    """One finished question and answer, as shown to the user."""

    id: int
    """Database id of the turn, unique across conversations (what a rating refers to)."""
    position: int
    """0-based place in its conversation."""
    question: str
    answer: str
    created: float
    """Unix time the turn was stored."""
    abstained: bool = False
    reason: str = ""
    """Why the system declined ("" when it answered; see ``rag.turn.Reason``)."""
    reasoning: str = ""
    notice: str = ""
    model: str = ""
    lang: str = ""
    citations: list[Citation] = field(default_factory=list)
    """The cited passages (``rag.turn.Answer.citations``)."""
    evidence: list[Evidence] = field(default_factory=list)
    """The quotes from the notes shown before the answer (``rag.turn.Answer.evidence``)."""
    rating: int | None = None
    """1 (thumbs up), -1 (thumbs down) or None (not rated)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "position": self.position, "question": self.question, "answer": self.answer,
                "created": _iso(self.created), "abstained": self.abstained, "reason": self.reason,
                "reasoning": self.reasoning, "notice": self.notice, "model": self.model, "lang": self.lang,
                "citations": [c.to_dict() for c in self.citations], "evidence": [e.to_dict() for e in self.evidence],
                "rating": self.rating}


@dataclass(frozen=True)
class Conversation:
    """A conversation; ``turns`` is filled by :meth:`ChatStore.get`, empty in :meth:`ChatStore.list`."""

    id: str
    title: str
    created: float
    updated: float
    turn_count: int = 0
    turns: tuple[SavedTurn, ...] = ()

    @property
    def label(self) -> str:
        """How the conversation is listed: title, last change and number of turns."""
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.updated))
        return f"{self.title} · {stamp} · {self.turn_count}"

    def history(self) -> list[tuple[str, str]]:
        """(question, answer) pairs, oldest first, as ``rag.answer.Answerer.stream`` takes them."""
        return [(t.question, t.answer) for t in self.turns]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created": _iso(self.created), "updated": _iso(self.updated),
                "turns": [t.to_dict() for t in self.turns]}

    def to_markdown(self) -> str:
        """The conversation as a markdown document; each answer's sources are footnotes (``[^2-1]``: turn 2,
        passage 1, so labels stay unique across turns)."""
        lines = [f"# {self.title}", "", f"*{self.id} · {_iso(self.created)}*", ""]
        for t in self.turns:
            n = t.position + 1
            answer = with_footnotes(t.answer, t.citations, label=lambda c, n=n: f"{n}-{c}")
            if t.notice:
                answer = f"*{t.notice}*\n\n{answer}"
            lines += [f"## {n}. {t.question}", "", answer, ""]
        return "\n".join(lines).rstrip() + "\n"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def cite_path(citation: Citation | Evidence) -> str:
    """Where a cited passage is: ``source › heading › subheading`` (the title when it has no headings)."""
    return f"{citation.source} › {citation.path}" if citation.path else citation.source


_MARKERS = re.compile(r"\s*(?:\[\d{1,2}\])+\s*$")


def with_footnotes(text: str, citations: Sequence[Citation], label: Any = str) -> str:
    """``text`` with its trailing ``[1][3]`` markers turned into markdown footnotes (``[^1][^3]``) and one
    footnote line per citation (``[^1]: source › heading``), so any markdown chat client shows the sources.
    ``label(n)`` names the footnote of passage ``n``. Text without citations is returned unchanged."""
    if not citations:
        return text
    body = _MARKERS.sub("", text).rstrip()
    names = [str(label(c.n)) for c in citations]
    refs = "".join(f"[^{name}]" for name in names)
    notes = "\n".join(f"[^{name}]: {cite_path(c)}" for name, c in zip(names, citations, strict=True))
    return f"{body}{refs}\n\n{notes}"


def title_from(question: str) -> str:
    """A conversation's title made from its first question."""
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


class ChatStore:
    """Create, continue, list, rename, delete and export conversations in one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise ChatStoreError(f"{self.path}: SQLite refused WAL mode ({mode}).")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ChatStoreError(f"{self.path} was written by a newer notesqa (schema {version}).")
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise ChatStoreError(f"Cannot use the conversations database {self.path}: {exc}") from exc

    @classmethod
    def for_settings(cls, settings: Settings) -> ChatStore:
        """The store in ``settings.data_dir``."""
        return cls(Path(settings.data_dir) / DB_NAME)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call; ``with db:`` blocks inside are transactions."""
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=FULL")  # a committed turn is on disk, not only in the OS cache
            yield db
        finally:
            db.close()

    # --- writing -------------------------------------------------------------------------------
    def create(self, title: str = "") -> Conversation:
        """A new, empty conversation (titled by its first question unless ``title`` is given)."""
        now = time.time()
        conv = Conversation(uuid.uuid4().hex[:12], " ".join(title.split())[:MAX_TITLE_CHARS], now, now)
        with self._connect() as db, db:
            db.execute("INSERT INTO conversations (id, title, created, updated) VALUES (?, ?, ?, ?)",
                       (conv.id, conv.title, now, now))
        return conv

    def append_turn(self, conversation_id: str, question: str, answer: str, *, abstained: bool = False,
                    reason: str = "", reasoning: str = "", notice: str = "", model: str = "", lang: str = "",
                    citations: Sequence[Citation] = (), evidence: Sequence[Evidence] = ()) -> SavedTurn:
        """Store a finished turn at the end of the conversation, committed before this returns."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the position is read and used under one write lock
            try:
                row = db.execute("SELECT title FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
                if row is None:
                    raise ChatNotFoundError(f"No conversation {conversation_id!r}.")
                position = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?",
                                      (conversation_id,)).fetchone()[0]
                cur = db.execute(
                    "INSERT INTO turns (conversation_id, position, question, answer, created, abstained, reason, "
                    "reasoning, notice, model, lang, citations, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (conversation_id, position, question, answer, now, int(abstained), reason, reasoning, notice,
                     model, lang, json.dumps([c.to_dict() for c in citations], ensure_ascii=False),
                     json.dumps([e.to_dict() for e in evidence], ensure_ascii=False)))
                db.execute("UPDATE conversations SET updated = ?, title = CASE WHEN title = '' THEN ? ELSE title "
                           "END WHERE id = ?", (now, title_from(question), conversation_id))
                db.commit()
            except BaseException:
                db.rollback()
                raise
        return SavedTurn(int(cur.lastrowid or 0), position, question, answer, now, abstained, reason, reasoning, notice,
                    model, lang, list(citations), list(evidence))

    def rate(self, turn_id: int, rating: int | None) -> SavedTurn:
        """Record a thumbs up (1) or down (-1) on a turn, or clear it (None); committed before returning."""
        if rating not in (1, -1, None):
            raise ValueError("A rating is 1 (thumbs up), -1 (thumbs down) or None (cleared).")
        with self._connect() as db, db:
            done = db.execute("UPDATE turns SET rating = ?, rated = ? WHERE id = ?",
                              (rating, time.time() if rating is not None else None, turn_id))
            if done.rowcount == 0:
                raise ChatNotFoundError(f"No turn {turn_id}.")
            row = db.execute("SELECT * FROM turns WHERE id = ?", (turn_id,)).fetchone()
        return _turn(row)

    def conversation_of(self, turn_id: int) -> str:
        """The id of the conversation a turn belongs to."""
        with self._connect() as db:
            row = db.execute("SELECT conversation_id FROM turns WHERE id = ?", (turn_id,)).fetchone()
        if row is None:
            raise ChatNotFoundError(f"No turn {turn_id}.")
        return str(row[0])

    def rated(self) -> list[tuple[Conversation, SavedTurn]]:
        """Every rated turn with its whole conversation (for the questions before it), oldest rating first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, conversation_id FROM turns WHERE rating IS NOT NULL "
                              "ORDER BY rated, id").fetchall()
        conversations: dict[str, Conversation] = {}
        out = []
        for turn_id, conv_id in rows:
            conv = conversations.get(conv_id) or conversations.setdefault(conv_id, self.get(conv_id))
            out.append((conv, next(t for t in conv.turns if t.id == turn_id)))
        return out

    def rename(self, conversation_id: str, title: str) -> Conversation:
        """Give a conversation a new title (whitespace collapsed; not empty)."""
        title = " ".join(title.split())
        if not title:
            raise ValueError("A conversation's title cannot be empty.")
        if len(title) > MAX_TITLE_CHARS:
            raise ValueError(f"A title is at most {MAX_TITLE_CHARS} characters.")
        with self._connect() as db, db:
            if db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)).rowcount == 0:
                raise ChatNotFoundError(f"No conversation {conversation_id!r}.")
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> None:
        """Remove a conversation and its turns (for good)."""
        with self._connect() as db, db:
            if db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount == 0:
                raise ChatNotFoundError(f"No conversation {conversation_id!r}.")

    # --- reading -------------------------------------------------------------------------------
    def list(self) -> list[Conversation]:
        """All conversations, most recently continued first (without their turns)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS n "
                "FROM conversations c ORDER BY c.updated DESC, c.rowid DESC").fetchall()
        return [Conversation(r["id"], r["title"], r["created"], r["updated"], r["n"]) for r in rows]

    def get(self, conversation_id: str) -> Conversation:
        """One conversation with all its turns, oldest first."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise ChatNotFoundError(f"No conversation {conversation_id!r}.")
            turns = db.execute("SELECT * FROM turns WHERE conversation_id = ? ORDER BY position",
                               (conversation_id,)).fetchall()
        return Conversation(row["id"], row["title"], row["created"], row["updated"], len(turns),
                            tuple(_turn(t) for t in turns))

    def export_json(self, conversation_id: str | None = None) -> dict[str, Any]:
        """One conversation as a JSON-ready dict, or, without an id, ``{"conversations": [...]}`` with all."""
        if conversation_id is not None:
            return self.get(conversation_id).to_dict()
        return {"conversations": [self.get(c.id).to_dict() for c in self.list()]}

    def export_markdown(self, conversation_id: str | None = None) -> str:
        """One conversation as markdown, or all of them one after the other."""
        ids = [conversation_id] if conversation_id is not None else [c.id for c in self.list()]
        return "\n---\n\n".join(self.get(i).to_markdown() for i in ids)


def _turn(row: sqlite3.Row) -> SavedTurn:
    return SavedTurn(row["id"], row["position"], row["question"], row["answer"], row["created"], bool(row["abstained"]),
                row["reason"], row["reasoning"], row["notice"], row["model"], row["lang"],
                [Citation.from_dict(c) for c in json.loads(row["citations"])],
                [Evidence.from_dict(e) for e in json.loads(row["evidence"])], row["rating"])
