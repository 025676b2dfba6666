"""Stage 5: the model's turn, streamed: its reasoning (a verbatim quote of the passage it answers from), then
its answer after our own cue, and for an English question answered in the notes' language, a translation."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from notesqa.settings import Settings
from notesqa.text import language
from rag import prompts
from rag.context import Selected
from rag.turn import Event, EventKind, Turn

ANSWER_STOPS = ["Answer:", "答案:", "答案：", "Answer (in English):"]
"""Where the reasoning ends: the model starting its answer with a cue of its own."""


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


NUMBER_TOKENS = 3
"""Tokens the model may spend naming the passage its reasoning starts from ("段落[" is given; "12" and "]")."""

CUES = {"zh": ("思考:", "答案:"), "en": ("Reasoning:", "Answer (in English):")}
"""The cues the model's reasoning and answer follow, per question language."""


def generate(turn: Turn, llm: Any, settings: Settings) -> Iterator[Event]:
    """One model turn in two phases: the reasoning (quoted evidence) until the model would start its
    answer, then the answer after our own cue, so a missing or sloppy cue never loses the answer and its
    language follows the question even when the quote is Chinese. Sets ``turn.reasoning`` and ``turn.raw``."""
    result, lang = turn.result, turn.lang
    messages = prompts.messages(turn.query, [x.passage for x in turn.selected], lang)
    t_g = time.perf_counter()
    with llm.turn():
        prompt = llm.chat_prompt(messages, assistant_prefix=f"{CUES[lang][0]} {prompts.QUOTE_LEAD[lang]}")
        result.usage["prompt_tokens"] = llm.count_tokens(prompt)
        prompt, reasoning = yield from _reason(turn, llm, prompt, settings.max_reasoning_tokens)
        answer = yield from _answer(turn, llm, prompt, settings.max_answer_tokens)
        result.token_p = [round(p, 4) for p in llm.token_probabilities()]
        if lang == "en" and answer.strip() and language(answer) == "zh":
            turn.draft = answer.strip()
            answer = yield from _translate(turn, llm, messages, reasoning, answer, settings.max_answer_tokens)
        t_d = time.perf_counter()
        result.doubt = _doubt(llm, messages, lang)
        result.timings["doubt"] = time.perf_counter() - t_d
    result.timings["generate"] = time.perf_counter() - t_g
    result.usage["completion_tokens"] = sum(result.usage.get(k, 0) for k in ("reasoning_tokens", "answer_tokens",
                                                                             "translation_tokens"))
    result.model = llm.name
    turn.reasoning, turn.raw = reasoning, answer.strip()
    result.raw_answer = turn.raw


def _doubt(llm: Any, messages: list[dict[str, str]], lang: str) -> float:
    """How ready the model is to say that the passages do not answer: the probability it gives to starting
    with ``NOT_FOUND`` when asked for the answer at once, without reasoning first. Read after the answer, so
    the answer is the one the model writes without this probe; the prompt up to the assistant's turn is
    still in llama.cpp's cache, so this reads only the answer cue and computes one step."""
    "".join(llm.complete(llm.chat_prompt(messages, assistant_prefix=CUES[lang][1]), 1, stop=[]))
    return round(llm.first_token_mass(prompts.ABSTAIN_MARK), 4)


def _reason(turn: Turn, llm: Any, prompt: str, max_tokens: int) -> Generator[Event, None, tuple[str, str]]:
    """The reasoning phase: the model names the passage it answers from; a prose passage is then quoted
    verbatim (``quotes_verbatim``). Returns the prompt with the reasoning and the answer cue, and the
    reasoning as shown."""
    result, lang = turn.result, turn.lang
    lead = prompts.QUOTE_LEAD[lang]
    reasoning = lead
    shown = False
    number = "".join(llm.complete(prompt, NUMBER_TOKENS, stop=["]"]))
    generated = 1
    if quotes_verbatim(number, turn.selected):
        forced = number.strip() + prompts.QUOTE_VERB[lang]
        lead, prompt = lead + forced, prompt + forced
        reasoning = lead
        result.timings["first_token"] = time.perf_counter() - turn.t0
        yield Event(EventKind.REASONING, lead)
        shown = True
    for delta in llm.complete(prompt, max_tokens, stop=["<|im_end|>", *ANSWER_STOPS]):
        result.timings.setdefault("first_token", time.perf_counter() - turn.t0)
        generated += 1
        delta, done = prompts.until_paragraph_end(reasoning, delta)
        reasoning += delta
        yield Event(EventKind.REASONING, delta if shown else lead + delta)  # the lead-in shows with the first token
        shown = True
        if done:
            break
    result.usage["reasoning_tokens"] = generated
    result.timings["reasoning_end"] = time.perf_counter() - turn.t0
    prompt = f"{prompt}{reasoning[len(lead):].rstrip()}\n{CUES[lang][1]} "
    return prompt, prompts.clean_reasoning(reasoning).strip()


def _answer(turn: Turn, llm: Any, prompt: str, max_tokens: int) -> Generator[Event, None, str]:
    """The answer phase, after our answer cue, until the paragraph ends or the answer starts to loop."""
    result = turn.result
    answer = ""
    generated = 0
    for delta in llm.complete(prompt, max_tokens, stop=["<|im_end|>", CUES[turn.lang][0]]):
        result.timings.setdefault("first_answer_token", time.perf_counter() - turn.t0)
        generated += 1
        delta, done = prompts.until_paragraph_end(answer, delta)
        cut = prompts.repeat_start(answer + delta)
        if cut is not None:  # looping on a sentence: keep what came before the repeat (the final Answer
            answer = (answer + delta)[:cut]  # replaces what was streamed)
            break
        answer += delta
        if delta:
            yield Event(EventKind.ANSWER, delta)
        if done:
            break
    result.usage["answer_tokens"] = generated
    result.timings["answer_end"] = time.perf_counter() - turn.t0
    return answer


def _translate(turn: Turn, llm: Any, messages: list[dict[str, str]], reasoning: str, answer: str,
               max_tokens: int) -> Generator[Event, None, str]:
    """An English question answered in the notes' language: ask for English in the same conversation, so
    llama.cpp reuses everything already in its cache and only reads one short turn."""
    cue_r, cue_a = CUES[turn.lang]
    convo = [*messages, {"role": "assistant", "content": f"{cue_r} {reasoning}\n{cue_a} {answer}"},
             {"role": "user", "content": prompts.TO_ENGLISH.format(answer=prompts.tidy_answer(answer))}]
    translated = ""
    for delta in llm.complete(llm.chat_prompt(convo), max_tokens, stop=["\n\n", "<|im_end|>"]):
        turn.result.usage["translation_tokens"] = turn.result.usage.get("translation_tokens", 0) + 1
        translated += delta
    if not translated.strip():
        return answer
    yield Event(EventKind.REPLACE, translated.strip())
    return translated
