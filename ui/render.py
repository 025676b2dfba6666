"""What the chat UI shows, as HTML or markdown: the sources panel, the early quote from the notes, a reply and a
restored conversation. Every piece of note or user text is escaped, so nothing from a note ever runs.

Passages are ``rag.turn.Citation``s: those the answer cites, or for an abstention those that were searched.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from rag.turn import Answer, Citation, Evidence

REASONING_TITLE = "思考过程 / reasoning"
EVIDENCE_TITLE = "📌 笔记原文（引用，不是答案） / From your notes (a quote, not the answer)"
SOURCES_TITLE = "**来源 / sources**"


def esc(text: str) -> str:
    """``text`` as inert markdown/HTML (quotes are left as they are)."""
    return html.escape(text, quote=False)


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escape ``text`` and wrap the character spans in <mark> (never executes anything from the note)."""
    out, pos = [], 0
    for a, b in sorted(spans):
        a, b = max(a, pos), min(b, len(text))
        if a >= b:
            continue
        out += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)


def searched(answer: Answer) -> list[Citation]:
    """The passages an abstained answer searched (the best three), numbered in rank order, nothing quoted."""
    return [Citation.from_dict({**hit, "n": i + 1}) for i, hit in enumerate(answer.retrieved[:3])]


def _in_note(p: Citation, note_text: Callable[[str], str]) -> str:
    """The passage marked inside its surroundings in the note (400 characters either side), escaped."""
    try:
        text = note_text(p.source)
    except (OSError, ValueError):
        return "<i>(note not readable any more)</i>"
    lo, hi = max(0, p.start - 400), min(len(text), p.end + 400)
    return (
        html.escape(text[lo : p.start])
        + "<mark>"
        + html.escape(text[p.start : p.end])
        + "</mark>"
        + html.escape(text[p.end : hi])
    )


def where(p: Citation | Evidence) -> str:
    """Where a passage is in its note: the file's lines when the note has them, else its characters."""
    return p.line_label or f"chars {p.start}–{p.end}"


def open_link(url: str) -> str:
    """A link that opens the note in its app (``Index.link``), or nothing."""
    if not url:
        return ""
    return f" · <a class='open' href='{html.escape(url, quote=True)}'>在 Obsidian 中打开 / open in Obsidian</a>"


def sources_html(answer: Answer | None, note_text: Callable[[str], str],
                 link: Callable[[str], str] = lambda source: "") -> str:
    """Sources under an answer (``rag.turn.Answer``): cited passages with the quoted sentences marked, where
    they are (lines, and a link into the note's app, ``link(source)``), and their surroundings in the note
    (``note_text(source)``; raises OSError or ValueError when it cannot be read).

    For an abstention, the passages that were searched are listed instead, so the user sees why.
    """
    if answer is None:
        return ""
    passages = answer.citations or searched(answer)
    if not passages:
        return ""
    title = "来源 / sources" if answer.citations else "搜索过的段落 / passages searched"
    parts = [f"<div class='{'cited' if answer.citations else 'searched'}'><b>{title}</b>"]
    for p in passages:
        rel = [(a - p.start, b - p.start) for a, b in p.spans]
        parts.append(
            f"<div class='src'><div class='meta'><b>[{p.n}] {html.escape(p.source)}</b> · "
            f"{html.escape(p.title)} · {html.escape(p.path)} · {where(p)}{open_link(link(p.source))}</div>"
            f"<div class='passage'>{highlight(p.text, rel)}</div>"
            f"<details><summary>在笔记中查看 / show in note</summary>"
            f"<pre>{_in_note(p, note_text)}</pre></details></div>"
        )
    parts.append("</div>")
    return "".join(parts)


def evidence_markdown(evidence: Sequence[Evidence]) -> str:
    """The chat message shown as soon as the best sentences are known, before the model's answer: each
    quote verbatim (escaped), with the note and heading path it comes from, under a label that says it is a
    quote and not the answer."""
    quotes = [
        f"> {esc(e.text).replace(chr(10), chr(10) + '> ')}\n>\n> — *{esc(e.source)} › {esc(e.path)}*" for e in evidence
    ]
    return f"**{EVIDENCE_TITLE}**\n\n" + "\n\n".join(quotes)


def evidence_html(evidence: Sequence[Evidence]) -> str:
    """The sources panel while the model answers: the quoted sentences, highlighted, with where they are."""
    if not evidence:
        return ""
    parts = ["<div class='evidence'><b>📌 笔记原文 / quoted from your notes</b>"]
    for e in evidence:
        parts.append(
            f"<div class='src'><div class='meta'><b>{html.escape(e.source)}</b> · "
            f"{html.escape(e.path)} · {where(e)}</div>"
            f"<div class='passage'><mark>{html.escape(e.text)}</mark></div></div>"
        )
    parts.append("</div>")
    return "".join(parts)


def reply_markdown(answer: str, notice: str = "", abstained: bool = False) -> str:
    """An answer as the chat shows it: a notice first, a 🔎 when the notes did not cover the question."""
    prefix = (f"ℹ️ *{esc(notice)}*\n\n" if notice else "") + ("🔎 " if abstained else "")
    return prefix + esc(answer)


def restored_chat(conversation: Any) -> list[dict[str, Any]]:
    """The chat messages of a stored conversation (``ui.chats.Conversation``): each question and answer, the
    answer followed by the notes it cites (the sources panel shows only the latest answer's)."""
    from ui.chats import cite_path

    messages: list[dict[str, Any]] = []
    for t in conversation.turns:
        sources = "\n".join(f"- [{c.n}] {esc(cite_path(c))}" for c in t.citations)
        content = reply_markdown(t.answer, t.notice, t.abstained)
        messages += [
            {"role": "user", "content": esc(t.question)},
            {"role": "assistant", "content": content + (f"\n\n{SOURCES_TITLE}\n{sources}" if sources else "")},
        ]
    return messages
