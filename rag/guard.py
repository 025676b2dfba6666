"""Rules that keep answers honest: question checks, injection refusal, retrieval gate, grounding check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.chunking import table_cells, table_spans
from ingest.sparse import tokenize
from notesqa.quantity import Quantity, derived, quantities, same, supported
from notesqa.text import CJK, CJK_CHARS, LETTERS, STOP_WORDS, collapse_spaces, specific_terms, squash, terms


class QuestionError(ValueError):
    """The question cannot be answered as given (empty, too long, ...); the message says why."""


def clean_question(question: str, max_chars: int) -> str:
    """Normalise a question or raise ``QuestionError`` with a message meant for the user."""
    if question is None:
        raise QuestionError("Please type a question. / 请输入问题。")
    text = "".join(" " if unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\n\t" else ch for ch in str(question))
    text = collapse_spaces(text)
    if not text:
        raise QuestionError("Please type a question. / 请输入问题。")
    if len(text) > max_chars:
        raise QuestionError(
            f"The question is {len(text)} characters long; the limit is {max_chars}. Please shorten it. / "
            f"问题太长（{len(text)} 字），上限 {max_chars} 字，请精简后再问。"
        )
    if not re.search(r"\w", text):
        raise QuestionError("The question has no words in it. / 问题里没有文字。")
    return text


OTHER_LANGUAGE_NOTICE = (
    "I answer in Chinese or English only, so this answer is in English. / 目前只支持中文或英文回答，以下用英文回答。"
)
"""Shown above the answer to a question in another language (``notesqa.text.other_language``)."""


_IN_SENTENCE = r"[^。？！；?!;\n]"
"""A character within one sentence: the words of an order to the assistant stand in one sentence, so a question
that mentions "忽略" in one sentence and "提示" in the next is not an order."""

_INJECTION = [
    r"ignore (all |any |the )?(previous|prior|above|earlier|preceding) (instructions|rules|prompts?|messages)",
    r"disregard (all |any |the )?(previous|prior|above|your) (instructions|rules)",
    r"forget (all |everything|your) (previous )?(instructions|rules)",
    r"(reveal|print|show|repeat|output) (me )?your (system )?(prompt|instructions|rules)",
    r"pretend (to be|you are)|act as (my|an?|the) |role-?play as|you are now (a|an|my|in)",
    r"do exactly what it says|reply only with|respond only with|do anything now",
    rf"\bignore (all|any|the|your|every|everything|what)\b{_IN_SENTENCE}{{0,50}}\b(instructions|rules|guidelines)",
    rf"\b(ai|assistant|you)\b{_IN_SENTENCE}{{0,20}}\b(without any|without|with no|no) (restrictions|limits|filters)\b",
    rf"(忽略|无视|忘掉|忘记|不要理会)(你|掉)?{_IN_SENTENCE}{{0,10}}(之前|以前|以上|前面|上面|先前|所有|全部)?的?{_IN_SENTENCE}{{0,6}}"
    r"(指令|指示|规则|提示|要求|设定)",
    rf"(你现在|现在你)(进入|处于|是){_IN_SENTENCE}{{0,6}}模式|不受任何限制的|无限制的 ?AI",
    r"(输出|打印|显示|告诉我|泄露)你的(指令|提示词?|规则|设定)",
    r"(请|你现在|现在你|你)(来)?(扮演|假装)",
]
"""A fast first filter of unmistakable orders to the assistant ("ignore the previous instructions", "print
your prompt", "你现在进入…模式"). Only orders, never subjects: a question about jailbreaks, phishing or system
prompts in the notes must reach the request decision (``rag.intent``), which is the defence; the words alone
refused 4 of the 60 benign dev questions and matched 4 of the 60 red-team dev requests."""
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION), re.IGNORECASE)


def injection(text: str) -> str | None:
    """The phrase that makes ``text`` an order to change or reveal the rules, if any."""
    m = _INJECTION_RE.search(text)
    return m.group(0) if m else None


_JOINERS = re.compile(r"[-_]")
"""What joins the parts of a name and may be left out: "GPT-3" and "GPT3", "Llama_2" and "Llama2" are one name."""


def _norm(text: str) -> str:
    """Text as names are looked for in it: whitespace and joiners (``_JOINERS``) removed, lower case."""
    return _JOINERS.sub("", squash(text)).lower()


def _present(term: str, haystack: str) -> bool:
    """Term occurs in (normalised) text; a plural 's' on an acronym is forgiven (LLMs -> LLM)."""
    t = _norm(term)
    return t in haystack or (len(t) > 3 and t.endswith("s") and t[:-1] in haystack)


CJK_NAME_OVERLAP = 0.7
"""Share of a Chinese name's character bigrams that a text must hold to mention it: Chinese shortens names
("加州消费者隐私法案" for "加利福尼亚消费者隐私法案", 6 of 8 bigrams), while an unrelated name of the same
field shares one or two ("消费者权益保护法": 2 of 7)."""

CJK_NAME_MIN_CHARS = 4
"""Shortest Chinese name that may be mentioned in part: a name of two or three characters has too few bigrams
for a share of them to say anything."""


def _mentions(anchor: str, text: str) -> bool:
    """Whether ``text`` mentions ``anchor``: a Latin name as a whole word ("US" is not in "Using"; joiners
    left out, so "GPT3" mentions "GPT-3"), a Chinese term anywhere (whitespace ignored), or most of a long
    Chinese name (``CJK_NAME_OVERLAP``)."""
    if anchor.isascii():
        a, t = _JOINERS.sub("", anchor.lower()), _JOINERS.sub("", text.lower())
        return re.search(rf"(?<![a-z0-9]){re.escape(a)}(?![a-z0-9])", t) is not None
    a, t = _norm(anchor), _norm(text)
    if a in t:
        return True
    grams = {a[i : i + 2] for i in range(len(a) - 1)}
    return len(a) >= CJK_NAME_MIN_CHARS and sum(g in t for g in grams) >= CJK_NAME_OVERLAP * len(grams)


def missing_terms(question: str, passages: Sequence[str]) -> list[str]:
    """Specific names in the question that none of the retrieved passages mention."""
    hay = _norm("\n".join(passages))
    return [t for t in specific_terms(question) if not _present(t, hay)]


_ALIAS = re.compile(
    rf"([{CJK_CHARS}]{{2,}})\s*[（(]\s*([A-Za-z][\w.\- ]*?)\s*[）)]"
    rf"|([A-Za-z][\w.\-]*)\s*[（(]\s*([{CJK_CHARS}]{{2,}})\s*[）)]"
)
"""A name with its other name in brackets: "加州消费者隐私法案（CCPA）", "RLHF（人类反馈强化学习）"."""


def aliases(text: str) -> list[str]:
    """The Chinese names that ``text`` gives a Latin name in brackets, or the other way round: notes often
    write only one of the two."""
    return [m.group(1) or m.group(4) for m in _ALIAS.finditer(text)]


def anchor_terms(question: str) -> list[str]:
    """What an answer's facts must sit next to: the question's specific names (and the other names the
    question gives them in brackets), else its content words."""
    names = specific_terms(question)
    if names:
        return list(dict.fromkeys(names + aliases(question)))
    latin = [w for w in LETTERS.findall(question) if len(w) >= 3 and w.lower() not in STOP_WORDS]
    cjk = [t for t in tokenize(question) if len(t) >= 2 and CJK.search(t)]
    return list(dict.fromkeys(latin + cjk))


_REFERENCE = re.compile(r"\[\d+\]")
"""A citation marker ("[8]" in a note, "[2]" in an answer): a pointer, not a number the text states."""
_ENUMERATION = re.compile(r"(?m)(^|\s)(\d{1,2}[.)、]|[(（]\d{1,2}[)）])(?=\s|\D)")


def answer_facts(answer: str, keep_single_digits: bool = True) -> tuple[list[Quantity], list[str]]:
    """Checkable facts in an answer: its numbers (as values) and specific names (everything else may be
    paraphrase).

    Citation markers and list numbering are not facts; single digits ("2 ways") only count when the
    question asks for a number.
    """
    text = _ENUMERATION.sub(" ", _REFERENCE.sub(" ", answer))
    numbers = [q for q in quantities(text) if keep_single_digits or q.digits > 1 or q.value >= 10]
    return list({q.value: q for q in numbers}.values()), specific_terms(text)


@dataclass(frozen=True)
class Grounding:
    ok: bool
    unsupported: tuple[str, ...] = ()
    supporting: tuple[int, ...] = ()
    """Indexes of the passages whose lines support the answer's facts."""
    checked: int = 0
    """How many numbers and names of the answer were checked."""


@dataclass(frozen=True)
class _Line:
    text: str
    frame: str
    """The line under the passage's heading path and table header rows."""
    about: str
    """What may name the line's subject: its frame and, outside tables, the line before it and the last
    line before it that ends with a colon (a list's lead-in)."""
    header: str
    """The header row of the table the line is a row of, else ""."""
    numbers: tuple[Quantity, ...]
    """The numbers in the line's frame."""


def _lines(context: str, text: str) -> list[_Line]:
    """A passage's lines, each with what frames it (worked out once per passage, not once per fact)."""
    tables = table_spans(text)  # of the passage text (trimmed rows under their header), not of its chunk
    headers = "\n".join(t.header for t in tables)
    out: list[_Line] = []
    pos, prev, lead = 0, "", ""
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        # the heading path and the table header row frame every line of a passage
        frame = f"{context}\n{headers}\n{line}"
        table = next((t for t in tables if t.start <= start < t.end), None)
        # outside tables, the line before may name the subject ("• CoT prompting" / "  (2022 年提出)"), and
        # so may the sentence that leads into a list ("以GPT-3为例，使用的参数如下：" / "- 线性学习率预热…")
        about = frame if table else f"{frame}\n{prev}\n{lead}"
        header = table.header if table and line.strip() != table.header else ""
        out.append(_Line(line, frame, about, header, tuple(quantities(_REFERENCE.sub(" ", frame)))))
        prev = line if line.strip() else prev
        lead = line if _is_lead_in(line) else lead
    return out


def _is_lead_in(line: str) -> bool:
    """A line that ends with a colon: a sentence that says what the lines after it are about
    ("以GPT-3为例，使用的参数如下：", "架构的形状（如何分配1750亿个参数）：")."""
    return line.rstrip().endswith((":", "："))


def lead_ins(text: str) -> list[str]:
    """The lead-in lines of ``text`` (``_is_lead_in``)."""
    return [line.strip() for line in text.split("\n") if _is_lead_in(line)]


def check_grounding(question: str, answer: str, passages: Sequence[tuple[str, str]],
                    renderings: Sequence[str] = ()) -> Grounding:
    """Every number/name in the answer must appear in a passage line that (with the line before it and
    the list's lead-in, outside tables) also mentions what was asked.

    Numbers are compared as values (``notesqa.quantity``): "1.3 B" supports "13 亿", "81.8 到 89.4" supports
    "7.6" (a difference of two numbers of one passage). ``passages`` are ``(context, text)`` pairs: the
    heading path (and table header) counts as part of every line, so "1.3 B" under the heading "Kosmos-1"
    supports "Kosmos-1 has 1.3B parameters", while "65B" in the LLaMA row of a table does not support an
    answer about Claude3. ``renderings`` are the question in other languages (an English question's Chinese
    rendering): when none of the question's own anchors occurs in the passages, they are written in another
    language and name the subject in their own words ("美国" for "US"), so the renderings' anchors stand in.
    """
    q_norm, q_values = _norm(question), [q.value for q in quantities(question)]
    numbers, names = answer_facts(answer, keep_single_digits=asks_for_number(question))
    numbers = [q for q in numbers if not any(same(q.value, v) for v in q_values)]
    names = [f for f in names if _norm(f) not in q_norm]
    if not numbers and not names:
        return Grounding(True, (), tuple(range(len(passages))) if passages else ())
    anchors = anchor_terms(question)
    given = "\n".join(f"{context}\n{text}" for context, text in passages) if renderings else ""
    if renderings and not any(_mentions(a, given) for a in anchors):  # the passages are in another language
        anchors = list(dict.fromkeys([*anchors, *(a for r in renderings for a in anchor_terms(r))]))
    framed = [_lines(context, text) for context, text in passages]
    unsupported: list[str] = []
    supporting: set[int] = set()

    def on_topic(ln: _Line) -> bool:
        return not anchors or any(_mentions(a, ln.about) for a in anchors)

    for fact in [*numbers, *names]:
        found = False
        for i, lines in enumerate(framed):
            for ln in lines:
                if isinstance(fact, Quantity):
                    has_fact = supported(fact, list(ln.numbers))
                    if has_fact and ln.header:  # and under the column the question asks about
                        has_fact = column_ok(question, ln.header, ln.text, fact)
                else:
                    has_fact = _present(fact, _norm(ln.frame))
                if has_fact and on_topic(ln):
                    found = True
                    supporting.add(i)
            context, text = passages[i]
            if (
                not found
                and isinstance(fact, Quantity)
                and not any(ln.header for ln in lines)
                and (not anchors or any(_mentions(a, f"{context}\n{text}") for a in anchors))
                and derived(fact, quantities(_REFERENCE.sub(" ", text)))
            ):
                # worked out from two numbers of one prose passage ("由81.8到89.4" -> "提高了7.6")
                found = True
                supporting.add(i)
        if not found:
            unsupported.append(fact.text if isinstance(fact, Quantity) else fact)
    return Grounding(not unsupported, tuple(unsupported), tuple(sorted(supporting)), len(numbers) + len(names))


def column_ok(question: str, header: str, row: str, number: Quantity) -> bool:
    """When the question names columns of the table ("参数量", "上下文长度": a Chinese bigram or a whole
    Latin word in common; "Date" is not named by the "at" of "Megatron"), a number taken from a row must sit
    in one of them. A row with more or fewer cells than the header (a missing cell, a name with
    a space) is read both ways, lined up from the left and from the right; the number must be under a
    named column in one of them ("Claude3 Haiku、Sonnet Opus 200" has 7 cells under 6 headers: 200 is the
    context length or the positioning, never the parameter count)."""
    heads = table_cells(header)
    asked = terms(question)
    named = {k for k, h in enumerate(heads) if terms(h) & asked}
    if not named:
        return True
    cells = table_cells(row)
    shift = len(heads) - len(cells)
    return any(supported(number, quantities(c)) and (k in named or k + shift in named) for k, c in enumerate(cells))


_ASKS_NUMBER = re.compile(
    r"多少|几[个位年月天次种]|哪一?年|哪一?天|哪个月|什么时候|何时|日期|多[久长高重远快宽深]|多大(?!程度)|"
    r"how many|how much|how long|how large|"
    r"what year|which year|what date|when did|when was|when is",
    re.IGNORECASE,
)


def asks_for_number(question: str) -> bool:
    """Questions whose answer must contain a number or a date."""
    return bool(_ASKS_NUMBER.search(question))


def only_numbers(answer: str) -> bool:
    """True when an answer is nothing but numbers and units ("2B, 8B, 137B")."""
    text = _REFERENCE.sub("", answer)
    words = re.sub(r"\d+(?:[.,]\d+)*\s*(?:[kmbt]b?|%|个|亿|万)?", "", text, flags=re.IGNORECASE)
    return bool(re.search(r"\d", text)) and not re.search(r"\w", words)
