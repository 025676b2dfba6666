"""``Answerer``: the one entry point (CLI, UI and eval alike) from a question to a cited ``Answer``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ingest.chunking import LIST_ITEM, Chunk
from ingest.embeddings import E5Embeddings, get_embeddings
from notesqa.settings import Settings
from rag import guard, prompts
from rag.context import Selected, select_context
from rag.decompose import Part, decompose
from rag.followup import standalone
from rag.intent import IntentClassifier
from rag.multihop import follow
from rag.quantity import quantities
from rag.retrieve import Hit, HybridRetriever, IndexHandle
from rag.text import terms
from rag.translate import chinese_query
from rag.verify import GenreCheck

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    """A sentence (or two neighbouring ones) from the notes that best answers the question, verbatim: shown
    as a quote before the model's answer."""

    source: str
    chunk_id: str
    text: str
    start: int
    """Character offset of ``text`` in the note."""
    end: int
    title: str = ""
    headings: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """Where in the note: its heading path, else its title."""
        return " › ".join(self.headings) or self.title

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headings": list(self.headings)}


def evidence_of(selected: Sequence[Selected]) -> list[Evidence]:
    """The best-scoring windows of the selected passages (for the question and each of its parts), in the
    passages' order, each as the verbatim run of the note it spans."""
    out = []
    for x in selected:
        c = x.hit.chunk
        if x.lead:
            a, b = x.lead[0][0], x.lead[-1][1]
            out.append(Evidence(c.source, c.id, c.text[a:b].strip(), c.start + a, c.start + b, c.title,
                                tuple(c.headings)))
    return out


@dataclass
class Answer:
    """The result of one question, as shown in the UI and written by eval."""

    question: str
    answer: str
    reasoning: str = ""
    abstained: bool = False
    reason: str = ""
    """Why the system declined: "" (answered), "gate", "missing_terms", "not_found", "ungrounded", "refused"."""
    lang: str = "zh"
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    """The (trimmed) passages the model was given, numbered as in the prompt."""
    timings: dict[str, float | None] = field(default_factory=dict)
    standalone_question: str = ""
    search_queries: list[str] = field(default_factory=list)
    """What retrieval searched with: the standalone question (plus a Chinese rendering of an English one when
    ``translate_questions`` is on)."""
    model: str = ""
    raw_answer: str = ""
    """The model's answer before the grounding check (kept for inspection)."""
    usage: dict[str, int] = field(default_factory=dict)
    """Prompt and generated token counts of the model call."""
    notice: str = ""
    """A note for the user about how the question was handled (e.g. answered in English)."""
    intent: str = ""
    """What the request was read as (``rag.intent.Intent``); "" when a first filter declined it before."""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    """The quotes from the notes shown before the model's answer (``Evidence.to_dict()``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """A streamed piece of an answer: ``kind`` is "status", "notice", "evidence" (quotes from the notes, in
    ``evidence``, before the model starts; a later one replaces an earlier one), "reasoning", "answer" (a
    delta) or "replace" (the answer so far is replaced, e.g. by its English version)."""

    kind: str
    text: str
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def quoting(cls, evidence: tuple[Evidence, ...]) -> Event:
        """The "evidence" event: the quotes, one per line as its text."""
        return cls("evidence", "\n".join(e.text for e in evidence), evidence=evidence)


_CITE = re.compile(r"\[(\d{1,2})\]")



def quotes_verbatim(number: str, selected: Sequence[Selected]) -> bool:
    """Whether the reasoning is made to quote passage ``number`` verbatim (a prose passage that was given).

    Once the model has named the passage it reasons from, its reasoning goes on with a verbatim quote of it
    (``段落[2]说：“``) rather than a paraphrase, which drops details ("…为了纪念克隆羊，因为…Dall-E" became
    "because it sounds like Dall-E"). Not for table rows: quoted without their header row they lose their
    columns (a question about context length was answered with a row's release date). Dev 0.83 -> 0.92,
    held-out 0.83 -> 0.875, no question lost (build ef77680; docs/experiments.md).
    """
    chosen = next((x for x in selected if str(x.passage.number) == number.strip()), None)
    return chosen is not None and not chosen.table


ANSWER_STOPS = ["Answer:", "答案:", "答案：", "Answer (in English):"]
_NOT_FOUND = re.compile(r"NOT[_ ]?FOUND|没有找到|未找到|找不到|没有提到|未提及|无法回答|无法提供|不能提供|"
                        r"没有(相关)?信息|can ?not provide|can't provide|unable to provide|"
                        r"(do(es)?n'?t|do(es)? not|did not) (state|mention|contain|say)|not (stated|mentioned)",
                        re.IGNORECASE)


_META_LEAD = re.compile(
    r"^(根据|从)(给定的|以上|上述)?\s*(段落|passages?|材料|资料)[\s和、与及,，]*(的)?(描述|内容|信息|说法)?"
    r"(中|里|来看|看来)?[，,:：]?\s*"
    r"(可以|我们可以)?(看到|看出|得出|得知|找到|提取到|提取出|知道)?(以下)?(信息)?[，,:：]?\s*"
    r"|^(the )?(answer|translation)( in english)?( is)?\s*:\s*", re.IGNORECASE)


def tidy_answer(raw: str) -> str:
    """The answer as shown: after the last answer cue, without [n] markers or "from the passages" lead-ins."""
    text = prompts.answer_text(raw)
    text = re.sub(r"\s+([。，！？；：.,;:!?](?!\w))", r"\1", _CITE.sub("", text))
    text = _META_LEAD.sub("", text.strip(" \n*"))
    return text.strip(" \n*")


def _longest_run(a: str, b: str) -> int:
    """Length of the longest common run of characters (whitespace ignored)."""
    from difflib import SequenceMatcher

    a, b = re.sub(r"\s+", "", a), re.sub(r"\s+", "", b)
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


MIN_WORDING_SUPPORT = 0.15
"""Least share of a Chinese answer's own terms (those not already in the question) that the passages found
must contain, when they are Chinese too; below it the answer was made up ("今天天气晴天"). Correct dev
answers: 0.26 and up."""


def wording_support(question: str, answer: str, texts: Sequence[str]) -> tuple[float, int]:
    """Share of the answer's terms beyond the question's that occur in ``texts``, and how many there are."""
    novel = terms(answer) - terms(question)
    if not novel:
        return 0.0, 0
    found = set().union(*(terms(t) for t in texts)) if texts else set()
    return len(novel & found) / len(novel), len(novel)


def wording_problem(question: str, answer: str, notes: Sequence[str]) -> tuple[str, str] | None:
    """``(reason, why)`` when a Chinese answer to Chinese notes adds nothing to the question or is not
    worded from them; answers in another language than the notes (translations) are not judged."""
    if prompts.language(answer) != "zh" or prompts.language("".join(notes)) != "zh":
        return None
    share, novel = wording_support(question, answer, notes)
    if novel == 0:
        return "not_found", "The answer adds nothing to the question."
    if novel >= 2 and share < MIN_WORDING_SUPPORT:
        return "ungrounded", f"The answer's wording is not from the passages ({share:.0%})."
    return None


def _echoes(question: str, answer: str) -> bool:
    """Whether the answer is the question said again, adding at most a few characters (a small model's way
    of not answering)."""
    q, a = re.sub(r"\W+", "", question), re.sub(r"\W+", "", answer)
    run = _longest_run(q, a)
    added = a.replace(q, "") if q in a else a
    return len(q) >= 30 and run >= 0.8 * len(q) and len(a) - run <= 2 and not re.search(r"[0-9A-Za-z]", added)


def merge(result: Answer, parts: Sequence[Answer], t0: float) -> Answer:
    """One answer from the answers to a question's parts: their texts in order (an abstained part says so),
    passages and citations renumbered after the parts before them, evidence, searches and token counts
    added up. The whole abstains only when every part did (with the first part's reason)."""
    lang = result.lang
    texts, offset = [], 0
    for p in parts:
        if p.abstained:
            texts.append(prompts.PART_ABSTAIN[lang].format(n=len(texts) + 1))
        else:
            texts.append(_CITE.sub(lambda m, k=offset: f"[{int(m.group(1)) + k}]", p.answer))
            result.citations += [{**c, "n": c["n"] + offset} for c in p.citations]
        result.passages += [{**x, "n": x["n"] + offset} for x in p.passages]
        offset += len(p.passages)
        seen = {r["chunk_id"] for r in result.retrieved}
        result.retrieved += [r for r in p.retrieved if r["chunk_id"] not in seen]
        result.evidence += p.evidence
        result.search_queries += p.search_queries
        for key, value in p.usage.items():
            result.usage[key] = result.usage.get(key, 0) + value
        for key, value in p.timings.items():
            if value is None or key == "total":
                continue
            if key.startswith("first"):  # the first part's, when it got that far
                result.timings.setdefault(key, value)
            elif key.endswith("_end"):  # moments, not durations: the last part's
                result.timings[key] = value
            else:
                result.timings[key] = result.timings.get(key, 0.0) + value
        result.model = result.model or p.model
    result.raw_answer = "\n\n".join(p.raw_answer for p in parts)
    reasoning = "\n\n".join(f"({i}) {p.question}\n{p.reasoning}" for i, p in enumerate(parts, 1))
    if all(p.abstained for p in parts):
        return Answerer._finish(result, t0, parts[0].answer, parts[0].reason, reasoning=reasoning)
    return Answerer._finish(result, t0, "\n\n".join(texts), "", reasoning=reasoning)


class Answerer:
    """Retrieves, gates, prompts the local model, and checks the answer against the passages."""

    def __init__(self, settings: Settings, handle: IndexHandle | None = None):
        self.settings = settings
        self.handle = handle or IndexHandle(settings)
        """The loaded index; answerers that differ only in model or prompt settings can share one."""
        self._llm: Any = None

    # --- retrieval ---------------------------------------------------------------------------
    def retriever(self) -> HybridRetriever:
        return self.handle.retriever()

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        return self.retriever()(question, k)

    @cached_property
    def sentence_embeddings(self) -> E5Embeddings:
        """The embedding model that scores the prompt's candidate sentences (``context_embed_backend``)."""
        s = self.settings
        if s.context_embed_backend not in ("same", s.embed_backend):
            try:
                return get_embeddings(s, backend=s.context_embed_backend)
            except ImportError as exc:
                log.warning("context_embed_backend=%s unavailable (%s); using %s", s.context_embed_backend, exc,
                            s.embed_backend)
        return get_embeddings(s)

    @cached_property
    def intent(self) -> IntentClassifier:
        """The decision about the request, before retrieval (``rag.intent``)."""
        return IntentClassifier(get_embeddings(self.settings), self.settings.cache_dir)

    @cached_property
    def genre(self) -> GenreCheck:
        """What the written answer reads as (``rag.verify``)."""
        return GenreCheck(get_embeddings(self.settings), self.settings.cache_dir)

    def _lead_ins(self, chunk: Chunk) -> list[str]:
        """The lead-in lines that frame a chunk's lines: its own, and when it starts inside a list, the last
        one of the chunk before it (the list began there: "以GPT-3为例，使用的参数如下：")."""
        own = guard.lead_ins(chunk.text)
        if not LIST_ITEM.match(chunk.text.lstrip("\n")):
            return own
        before = self.handle.get().before(chunk)
        return (guard.lead_ins(before.text)[-1:] if before else []) + own

    def _notes_of(self, hits: Sequence[Hit]) -> list[str]:
        """The whole notes the hits come from, chunk by chunk (with heading paths): a name the question
        asks about is often written once at the top of a list or section ("以GPT-3为例，…："), not in the
        passage that holds the fact."""
        index = self.handle.get()
        return [c.embed_text for source in dict.fromkeys(h.chunk.source for h in hits)
                for c in index.note_chunks(source)]

    # --- model -------------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        if self._llm is None:
            from rag.llm import get_llm

            self._llm = get_llm(self.settings)
        return self._llm

    @property
    def waiting(self) -> int:
        """Questions queued for the model behind the one being answered (0 before the model is loaded)."""
        return self._llm.waiting if self._llm is not None else 0

    @property
    def model_name(self) -> str:
        from rag.llm import model_path

        return model_path(self.settings).name

    def warm_up(self) -> str:
        """Load the index and both models, and put the fixed prompt prefix into llama.cpp's cache (its state
        is saved in the cache directory once, then loaded), so the first question after a start costs no more
        than the next ones. Returns how the prefix got there: "loaded" or "computed"."""
        self.retrieve("warm up", 1)
        self.intent.fitted()  # both classifiers: fitted once per embedding model and examples, then cached
        self.genre.fitted()
        self.sentence_embeddings.embed_query("warm up")  # its own model when context_embed_backend differs
        llm = self.llm
        two = (llm.chat_prompt(prompts.messages("warm up", [prompts.Passage(1, "-", "-")], "zh"), "思考: "),
               llm.chat_prompt(prompts.messages("prefix", [prompts.Passage(1, "x", "y")], "en"), "Reasoning: "))
        with llm.turn():
            return llm.read_prefix(two, self.settings.cache_dir)

    # --- answering -----------------------------------------------------------------------------
    def answer(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        """Answer without streaming (consumes :meth:`stream`)."""
        final = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[Event | Answer]:
        """Yield reasoning/answer ``Event`` deltas as the model writes them, then the final ``Answer``.

        Raises ``guard.QuestionError`` for an empty or over-long question.
        """
        s = self.settings
        t0 = time.perf_counter()
        question = guard.clean_question(question, s.max_question_chars)
        lang = prompts.language(question)
        query = standalone(question, history)
        result = Answer(question=question, answer="", lang=lang, standalone_question=query)
        if guard.other_language(question):
            result.notice = guard.OTHER_LANGUAGE_NOTICE
            yield Event("notice", result.notice)

        blocked = guard.injection(question)
        if blocked:
            yield self._finish(result, t0, prompts.REFUSE[lang], "refused", reasoning=f"Declined: “{blocked}”.")
            return
        t_i = time.perf_counter()
        decision = self.intent(question)
        result.timings["intent"] = time.perf_counter() - t_i
        result.intent = decision.intent.value
        if not decision.answer:
            yield self._finish(result, t0, prompts.DECLINE[decision.intent][lang], "refused",
                               reasoning=decision.why())
            return

        parts = decompose(query) if s.decompose_questions else []
        if parts:
            yield from self._compose(result, t0, parts)
        else:
            yield from self._one(result, t0, query)

    def _compose(self, result: Answer, t0: float, parts: Sequence[Part]) -> Iterator[Event | Answer]:
        """Answer each part of a several-part question on its own (search, passages, model turn, check), then
        one answer made of the parts' answers in order, a part the notes do not answer said so in its place.
        The stream shows every part's evidence (added up) and answer as they come."""
        done: list[Answer] = []
        quoted: tuple[Evidence, ...] = ()
        for i, part in enumerate(parts):
            sub = Answer(question=part.question, answer="", lang=result.lang, standalone_question=part.question,
                         intent=result.intent)
            opened: set[str] = set()  # the kinds of text this part has begun (each after a blank line)
            for item in self._one(sub, t0, part.question, part.search):
                if isinstance(item, Answer):
                    break
                if item.kind == "evidence":
                    item = Event.quoting(quoted + item.evidence)
                elif i and item.kind in ("reasoning", "answer") and item.kind not in opened:
                    opened.add(item.kind)
                    item = Event(item.kind, "\n\n" + item.text)
                elif i and item.kind == "replace":
                    item = Event("replace", "\n\n".join([*(x.answer for x in done), item.text]))
                yield item
            quoted += tuple(Evidence(**{**e, "headings": tuple(e["headings"])}) for e in sub.evidence)
            done.append(sub)
            if sub.abstained:
                yield Event("answer", "\n\n" + prompts.PART_ABSTAIN[result.lang].format(n=i + 1))
        yield merge(result, done, t0)

    def _one(self, result: Answer, t0: float, query: str, search: str = "") -> Iterator[Event | Answer]:
        """One question: search (with ``search`` when given), gate, pick passages, show the evidence, the
        model turn, the check."""
        s = self.settings
        lang = result.lang
        t_r = time.perf_counter()
        hits = self.retrieve(search or query, max(s.top_k, s.context_passages))
        result.retrieved = [h.as_dict() for h in hits]
        result.timings["retrieve"] = time.perf_counter() - t_r

        top_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        threshold = s.abstain_dense_min_zh if lang == "zh" else s.abstain_dense_min_en
        if not hits or top_dense < threshold:
            yield self._abstain(result, t0, "gate", f"Best passage similarity {top_dense:.3f} < {threshold}.")
            return
        missing = guard.missing_terms(query, self._notes_of(hits))
        if missing:
            yield self._abstain(result, t0, "missing_terms", "The notes found do not mention: " + ", ".join(missing))
            return

        renderings = [query]
        shown: tuple[Evidence, ...] = ()
        if lang == "en" and s.translate_questions:
            # the Chinese rendering costs a model turn (1-2 s): meanwhile, show the best sentences the first
            # search found (e5 is multilingual); they are replaced if the wider search finds better ones
            shown = tuple(evidence_of(select_context(query, hits, self.sentence_embeddings, s.context_passages,
                                                     s.context_max_chars)))
            if shown:
                result.timings["first_evidence"] = time.perf_counter() - t0
                yield Event.quoting(shown)
            t_t = time.perf_counter()
            with self.llm.turn():
                chinese = chinese_query(self.llm, query)
            result.timings["translate"] = time.perf_counter() - t_t
            if chinese:
                wider = self.retriever()(search or query, max(s.top_k, s.context_passages), also=[chinese])
                if not guard.missing_terms(query, self._notes_of(wider)):
                    renderings.append(chinese)
                    hits = wider
                    result.retrieved = [h.as_dict() for h in hits]
        result.search_queries = renderings

        t_c = time.perf_counter()
        pool, hops = follow(query, hits, self.retriever(), self.sentence_embeddings, s.context_passages)
        listed = {h.chunk.id for h in hits}
        result.retrieved += [h.as_dict() for h in pool[s.context_passages :] if h.chunk.id not in listed]
        selected = select_context(renderings, pool, self.sentence_embeddings, len(pool), s.context_max_chars,
                                  hops=hops)
        result.timings["select"] = time.perf_counter() - t_c
        if not selected:
            yield self._abstain(result, t0, "not_found", "Nothing usable in the passages found.")
            return
        result.passages = [{"n": x.passage.number, "label": x.passage.label, "text": x.passage.text,
                            "source": x.hit.chunk.source, "chunk_id": x.hit.chunk.id} for x in selected]
        quotes = tuple(evidence_of(selected))
        result.evidence = [e.to_dict() for e in quotes]
        result.timings.setdefault("first_evidence", time.perf_counter() - t0)
        if quotes != shown:
            yield Event.quoting(quotes)
        yield Event("status", "generating")
        reasoning, raw = yield from self._generate(query, selected, lang, result, t0)
        result.raw_answer = raw
        result.model = self.llm.name
        yield self._check(result, t0, query, raw, reasoning, selected)

    def _generate(self, question: str, selected: list[Selected], lang: str, result: Answer,
                  t0: float) -> Iterator[Event]:
        """One model turn in two phases: the reasoning (quoted evidence) until the model would start its
        answer, then the answer after our own cue, so a missing or sloppy cue never loses the answer and its
        language follows the question even when the quote is Chinese."""
        s = self.settings
        cue_r, cue_a = ("思考:", "答案:") if lang == "zh" else ("Reasoning:", "Answer (in English):")
        lead = prompts.QUOTE_LEAD[lang]
        messages = prompts.messages(question, [x.passage for x in selected], lang)
        t_g = time.perf_counter()
        reasoning, answer = lead, ""
        generated = 0
        with self.llm.turn():
            prompt = self.llm.chat_prompt(messages, assistant_prefix=f"{cue_r} {lead}")
            result.usage["prompt_tokens"] = self.llm.count_tokens(prompt)
            shown = False
            number = "".join(self.llm.complete(prompt, 3, stop=["]"]))
            generated += 1
            if quotes_verbatim(number, selected):
                forced = number.strip() + prompts.QUOTE_VERB[lang]
                lead, prompt = lead + forced, prompt + forced
                reasoning = lead
                result.timings["first_token"] = time.perf_counter() - t0
                yield Event("reasoning", lead)
                shown = True
            for delta in self.llm.complete(prompt, s.max_reasoning_tokens, stop=["<|im_end|>", *ANSWER_STOPS]):
                result.timings.setdefault("first_token", time.perf_counter() - t0)
                generated += 1
                delta, done = prompts.until_paragraph_end(reasoning, delta)
                reasoning += delta
                yield Event("reasoning", delta if shown else lead + delta)  # the lead-in shows with the first token
                shown = True
                if done:
                    break
            result.usage["reasoning_tokens"] = generated
            result.timings["reasoning_end"] = time.perf_counter() - t0
            prompt = f"{prompt}{reasoning[len(lead):].rstrip()}\n{cue_a} "
            reasoning = prompts.clean_reasoning(reasoning)
            for delta in self.llm.complete(prompt, s.max_answer_tokens, stop=["<|im_end|>", cue_r]):
                result.timings.setdefault("first_answer_token", time.perf_counter() - t0)
                generated += 1
                delta, done = prompts.until_paragraph_end(answer, delta)
                cut = prompts.repeat_start(answer + delta)
                if cut is not None:  # looping on a sentence: keep what came before the repeat (the final
                    answer = (answer + delta)[:cut]  # Answer replaces what was streamed)
                    break
                answer += delta
                if delta:
                    yield Event("answer", delta)
                if done:
                    break
            result.usage["answer_tokens"] = generated - result.usage["reasoning_tokens"]
            result.timings["answer_end"] = time.perf_counter() - t0
            if lang == "en" and answer.strip() and prompts.language(answer) == "zh":
                # answered in the notes' language: ask for English in the same conversation, so llama.cpp
                # reuses everything already in its cache and only reads one short turn
                convo = [*messages, {"role": "assistant", "content": f"{cue_r} {reasoning}\n{cue_a} {answer}"},
                         {"role": "user", "content": prompts.TO_ENGLISH.format(answer=tidy_answer(answer))}]
                translated = ""
                for delta in self.llm.complete(self.llm.chat_prompt(convo), s.max_answer_tokens,
                                               stop=["\n\n", "<|im_end|>"]):
                    generated += 1
                    translated += delta
                if translated.strip():
                    answer = translated
                    yield Event("replace", translated.strip())
        result.timings["generate"] = time.perf_counter() - t_g
        result.usage["completion_tokens"] = generated
        return reasoning.strip(), answer.strip()

    def _check(self, result: Answer, t0: float, question: str, raw: str, reasoning: str,
               selected: list[Selected]) -> Answer:
        """Resolve citations, then keep only what the passages support (else abstain)."""
        body = tidy_answer(raw)
        if not body or _NOT_FOUND.search(body) or len(body) < 2:
            return self._abstain(result, t0, "not_found", reasoning)
        if _echoes(question, body):
            return self._abstain(result, t0, "not_found", f"{reasoning}\nThe answer only repeats the question.")
        genre = self.genre(body)
        if genre.composed:
            return self._finish(result, t0, prompts.DECLINE["produce"][result.lang], "refused",
                                reasoning=f"{reasoning}\n{genre.why()}")
        made_up = wording_problem(question, body, [x.hit.chunk.embed_text for x in selected])
        if made_up:
            return self._abstain(result, t0, made_up[0], f"{reasoning}\n{made_up[1]}")
        leak = prompts.SYSTEM_PROMPT[:60]
        if leak.lower() in raw.lower():
            return self._finish(result, t0, prompts.REFUSE[result.lang], "refused", reasoning=reasoning)
        # what frames a passage: its heading path, and the lead-ins of the chunk it was cut from (the part
        # of the chunk given to the model may start below the sentence that names its subject)
        pairs = [("\n".join([x.hit.chunk.context, *self._lead_ins(x.hit.chunk)]), x.passage.text)
                 for x in selected]
        ground = guard.check_grounding(question, body, pairs)
        if not ground.ok:
            kept = self._repair(question, body, pairs)
            if not kept:
                why = "Not supported by the passages: " + ", ".join(ground.unsupported)
                return self._abstain(result, t0, "ungrounded", f"{reasoning}\n{why}")
            body = kept
            ground = guard.check_grounding(question, body, pairs)
        asks_number = guard.asks_for_number(question)
        if not asks_number and guard.only_numbers(body):
            return self._abstain(result, t0, "ungrounded",
                                 f"{reasoning}\nThe answer is only numbers, but the question does not ask for a "
                                 "quantity.")
        if asks_number and not quantities(body):
            return self._abstain(result, t0, "ungrounded",
                                 f"{reasoning}\nThe question asks for a number or date; the answer has none.")
        cited = self._citations(raw, reasoning, body, selected, ground)
        result.citations = cited
        markers = "".join(f"[{c['n']}]" for c in cited)
        return self._finish(result, t0, f"{body} {markers}".strip(), "", reasoning=reasoning)

    @staticmethod
    def _repair(question: str, body: str, pairs: list[tuple[str, str]]) -> str:
        """Keep only the answer's sentences whose facts are supported."""
        sentences = [x for x in re.split(r"(?<=[。！？!?；;])\s*|(?<=\.)\s+", body) if x.strip()]
        if len(sentences) < 2:
            return ""
        kept = [x for x in sentences if guard.check_grounding(question, x, pairs).ok]
        return "".join(kept).strip() if kept and len(kept) < len(sentences) else ""

    def _citations(self, raw: str, reasoning: str, body: str, selected: list[Selected],
                   ground: guard.Grounding) -> list[dict[str, Any]]:
        """Cite the passages the answer was copied from, decided in code (small models' [n] are unreliable).

        A passage is cited when it shares a long verbatim run with the answer (at least half the best
        run, and 6+ characters), or holds the answer's checked facts. An answer that copies from no passage
        (an English answer to Chinese notes) cites the passage closest to it in meaning (e5, which is
        multilingual). The model's own [n] markers are the last resort, and only for passages it was given.
        """
        if not selected:
            return []
        runs = [_longest_run(body, x.passage.text) for x in selected]
        best = max(runs)
        numbers = [i + 1 for i, r in enumerate(runs) if best >= 6 and r >= max(6, best // 2)]
        if not numbers and body:
            texts = [body] + [x.passage.text for x in selected]
            vecs = np.asarray(get_embeddings(self.settings).embed_documents(texts))
            numbers = [int(np.argmax(vecs[1:] @ vecs[0])) + 1]
        if ground.supporting and len(ground.supporting) < len(selected):
            numbers = sorted(set(numbers) | {i + 1 for i in ground.supporting})
        if not numbers:
            marked = [int(n) for n in _CITE.findall(raw + reasoning) if 1 <= int(n) <= len(selected)]
            numbers = marked[:1] or [runs.index(best) + 1]
        out = []
        for n in dict.fromkeys(numbers):
            x = selected[n - 1]
            c = x.hit.chunk
            out.append({"n": n, "source": c.source, "chunk_id": c.id, "text": c.text, "start": c.start,
                        "end": c.end, "title": c.title, "headings": list(c.headings),
                        "spans": [[c.start + a, c.start + b] for a, b in x.spans]})
        return out

    @classmethod
    def _abstain(cls, result: Answer, t0: float, reason: str, why: str) -> Answer:
        """Decline with the fixed phrase in the question's language; ``why`` becomes the shown reasoning."""
        return cls._finish(result, t0, prompts.ABSTAIN[result.lang], reason, reasoning=why.strip())

    @staticmethod
    def _finish(result: Answer, t0: float, text: str, reason: str, reasoning: str = "") -> Answer:
        result.answer = text
        result.reason = reason
        result.abstained = bool(reason)
        result.reasoning = reasoning
        result.timings["total"] = time.perf_counter() - t0
        for key in ("retrieve", "generate", "first_evidence", "first_token", "first_answer_token"):
            result.timings.setdefault(key, None)
        return result
