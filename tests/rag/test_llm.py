"""The local model's prompt-prefix state: saved once, loaded at the next start, redone when anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from notesqa.settings import Settings
from rag import prompts
from rag.llm import LocalLLM, model_path

pytestmark = [pytest.mark.slow, pytest.mark.llm]


def _prompts(llm: LocalLLM, system: str = prompts.SYSTEM_PROMPT) -> tuple[str, str]:
    def render(question: str, passage: prompts.Passage, lang: str) -> str:
        messages = prompts.messages(question, [passage], lang)
        messages[0] = {**messages[0], "content": system}
        return llm.chat_prompt(messages, "思考: " if lang == "zh" else "Reasoning: ")

    return (render("周五几点吃火锅?", prompts.Passage(1, "周末", "周五晚上 7 点吃火锅。"), "zh"),
            render("prefix", prompts.Passage(1, "x", "y"), "en"))


def test_the_prefix_state_is_saved_loaded_and_redone_when_the_prompt_changes(tmp_path: Path) -> None:
    s = Settings()
    path = model_path(s)
    first = LocalLLM(path, s.llm_ctx, s.threads)
    two = _prompts(first)
    with first.turn():
        assert first.read_prefix(two, tmp_path) == "computed"
        expected = "".join(first.complete(two[0], 12, stop=[]))
    assert len(list((tmp_path / "llm-state").glob("*.npz"))) == 1

    again = LocalLLM(path, s.llm_ctx, s.threads)  # a new llama.cpp context, as after a restart
    with again.turn():
        assert again.read_prefix(_prompts(again), tmp_path) == "loaded"
        shared = again.load().n_tokens
        assert shared > 300  # the system prompt and the examples
        assert "".join(again.complete(two[0], 12, stop=[])) == expected  # the same greedy answer

        changed = _prompts(again, prompts.SYSTEM_PROMPT.replace("Rules:", "Rules (v2):"))
        assert again.read_prefix(changed, tmp_path) == "computed"
    assert len(list((tmp_path / "llm-state").glob("*.npz"))) == 2


def test_speed_reports_this_machine_and_build() -> None:
    from rag.llm import build_features

    s = Settings()
    llm = LocalLLM(model_path(s), s.llm_ctx, s.threads)
    with llm.turn():
        speed = llm.speed(tokens=64, generate=8, repeat=1)
    assert speed["prompt_tok_s"] > 0 and speed["generate_tok_s"] > 0 and speed["prompt_tokens"] == 64
    assert "AVX2" in build_features() or "NEON" in build_features()


def test_each_generated_token_carries_the_probability_the_model_gave_it() -> None:
    s = Settings()
    llm = LocalLLM(model_path(s), s.llm_ctx, s.threads)
    copy, _ = _prompts(llm)
    with llm.turn():
        start = llm.count_tokens(copy + "段落[1]说：“")
        "".join(llm.complete(copy + "段落[1]说：“", 8, stop=[]))
        probs = llm.token_probabilities()
        # every generated token fed back (all but the last) has a probability, the largest of its greedy step
        assert 3 <= len(probs) <= 7 and len(probs) == llm.load().n_tokens - start
        assert all(0.0 < p <= 1.0 for p in probs)
        assert sum(probs) / len(probs) > 0.5  # copying a passage verbatim is what the model is sure of
        "".join(llm.complete(copy, 2, stop=[]))
        assert len(llm.token_probabilities()) == 1  # a new completion starts a new record


def test_the_mass_on_not_found_says_how_ready_the_model_is_to_decline() -> None:
    s = Settings()
    llm = LocalLLM(model_path(s), s.llm_ctx, s.threads)
    passage = prompts.Passage(1, "周末", "周五晚上 7 点在老地方吃火锅，一共 6 个人。")

    def doubt(question: str) -> float:
        with llm.turn():
            "".join(llm.complete(llm.chat_prompt(prompts.messages(question, [passage], "zh"), "答案:"), 1, stop=[]))
            return llm.first_token_mass(prompts.ABSTAIN_MARK)

    # asked at once, without reasoning: what the passage does not hold draws the model towards NOT_FOUND
    assert doubt("老地方在哪条街上?") > 0.3 and doubt("周五晚上几点吃火锅?") < 0.05
