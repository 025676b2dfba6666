"""``generate``: which passages the reasoning quotes verbatim (the model turn itself is tested with the real
model in ``tests/rag/test_answer.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from notesqa.settings import Settings
from rag import prompts
from rag.stages.generate import generate, quotes_verbatim
from rag.turn import EventKind
from tests.rag.stages.factories import selected, turn


def test_only_a_given_prose_passage_is_quoted_verbatim() -> None:
    given = [selected(1, "Kosmos-1 有 1.3B 参数。"), selected(2, "产品 参数量\nGPT-4 1760B", table=True)]
    assert quotes_verbatim("1", given) and quotes_verbatim(" 1", given)
    assert not quotes_verbatim("2", given)  # a table row quoted without its header loses its columns
    assert not quotes_verbatim("3", given) and not quotes_verbatim("无", given)


class ScriptedModel:
    """A stand-in for ``rag.llm.LocalLLM``: each ``complete`` call streams the next scripted text."""

    name = "scripted.gguf"

    def __init__(self, *texts: str, doubt: float = 0.0):
        self.texts = list(texts)
        self.prompts: list[str] = []
        self.doubt = doubt

    def turn(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def chat_prompt(self, messages: list[dict[str, str]], assistant_prefix: str = "") -> str:
        return "\n".join(m["content"] for m in messages) + "\n" + assistant_prefix

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt: str, max_tokens: int, stop: list[str]) -> Iterator[str]:
        self.prompts.append(prompt)
        yield from self.texts.pop(0) if self.texts else ""

    def token_probabilities(self) -> list[float]:
        return [0.9]

    def first_token_mass(self, word: str) -> float:
        return self.doubt if word == prompts.ABSTAIN_MARK else 0.0


def test_the_reasoning_quotes_the_named_passage_then_the_answer_streams(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = turn("Kosmos-1 有多少参数?")
    t.selected = [selected(1, "Kosmos-1 的数据和模型规模：1.3 B 的参数。")]
    model = ScriptedModel("1", "Kosmos-1 的数据和模型规模：1.3 B 的参数”\n", "Kosmos-1 有 1.3B 参数。")
    events = list(generate(t, model, Settings(cache_dir=tmp_path)))
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.REASONING and events[0].text == "段落[1]说：“"  # the forced quote
    assert EventKind.ANSWER in kinds and kinds.index(EventKind.ANSWER) > kinds.index(EventKind.REASONING)
    assert t.reasoning.startswith("段落[1]说：“Kosmos-1") and t.raw == "Kosmos-1 有 1.3B 参数。"
    assert model.prompts[-2].endswith("答案: ")  # the answer follows our own cue
    assert t.result.usage["completion_tokens"] == t.result.usage["reasoning_tokens"] + t.result.usage["answer_tokens"]
    assert t.result.model == "scripted.gguf" and t.result.timings["first_token"] is not None


def test_after_the_answer_the_model_is_asked_for_the_answer_at_once_and_its_doubt_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = turn("Kosmos-1 有多少参数?")
    t.selected = [selected(1, "Kosmos-1 的数据和模型规模：1.3 B 的参数。")]
    model = ScriptedModel("1", "Kosmos-1 的数据和模型规模：1.3 B 的参数”\n", "Kosmos-1 有 1.3B 参数。", doubt=0.25)
    list(generate(t, model, Settings(cache_dir=tmp_path)))
    probe = model.prompts[-1]
    # the conversation as the model first got it, with the answer cue instead of the reasoning cue
    assert probe == model.prompts[0].removesuffix("思考: 段落[") + "答案:"
    assert t.raw == "Kosmos-1 有 1.3B 参数。" and t.result.doubt == 0.25


def test_an_english_question_answered_in_chinese_is_translated_and_its_draft_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = turn("How many parameters does Kosmos-1 have?", lang="en")
    t.selected = [selected(1, "Kosmos-1 的数据和模型规模：1.3 B 的参数。")]
    model = ScriptedModel("1", "Kosmos-1 的数据和模型规模：1.3 B 的参数”\n", "这个多模态大模型有十三亿个参数。",
                          "Kosmos-1 has 1.3B parameters.")
    events = list(generate(t, model, Settings(cache_dir=tmp_path)))
    assert events[-1].kind == EventKind.REPLACE and events[-1].text == "Kosmos-1 has 1.3B parameters."
    assert t.raw == "Kosmos-1 has 1.3B parameters." and t.draft == "这个多模态大模型有十三亿个参数。"
