"""Raw llama.cpp speed of the installed build: prompt reading and generation tok/s (``python benchmarks/llm_speed.py``).

Prints the CPU features the build was compiled with, then reads a Chinese prompt of about the length the
answering prompt's passages and question have (~180 tokens) from an empty cache, ``--repeat`` times, and
generates ``--gen`` tokens. To compare builds, install llama-cpp-python with other flags
(``make setup LLAMA_CMAKE_ARGS=...``) and run it again; or run both builds alternately in one shell session
(``PYTHONPATH=/path/to/other/build python benchmarks/llm_speed.py``), as this machine's speed drifts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notesqa.settings import Settings
from rag.llm import model_path

TEXT = ("Transformer 既有 Encoder 又有 Decoder,主要因为一开始处理的是翻译任务,需要先理解整句的意思,"
        "再逐字生成翻译结果。简单讲:主要差别就是单向/双向注意力的差别。")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=180, help="prompt length to read")
    ap.add_argument("--gen", type=int, default=64, help="tokens to generate")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import llama_cpp

    settings = Settings()
    path = model_path(settings)
    print(f"llama-cpp-python {llama_cpp.__version__} from {Path(llama_cpp.__file__).parent}")
    print(llama_cpp.llama_print_system_info().decode().strip())
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=settings.threads,
                          n_threads_batch=settings.threads, n_batch=512, verbose=False, seed=0)
    tokens = llm.tokenize((TEXT * 20).encode(), add_bos=False)[: args.tokens]
    prompt_rates = []
    for _ in range(args.repeat):
        llm.reset()
        t = time.perf_counter()
        llm.eval(tokens)
        prompt_rates.append(len(tokens) / (time.perf_counter() - t))
    llm.reset()
    produced, first = 0, 0.0
    for tok in llm.generate(tokens, temp=0.0, top_k=1):  # reads the prompt, then generates
        produced += 1
        if produced == 1:
            first = time.perf_counter()
        if produced > args.gen or tok == llm.token_eos():
            break
    gen_rate = (produced - 1) / (time.perf_counter() - first)  # tokens after the first, timed from it
    produced -= 1
    print(f"model {path.name}, {settings.threads} threads")
    print(f"prompt: {len(tokens)} tokens, {statistics.median(prompt_rates):.1f} tok/s median of {args.repeat} "
          f"({', '.join(f'{r:.1f}' for r in prompt_rates)})")
    print(f"generation: {produced} tokens, {gen_rate:.1f} tok/s")


if __name__ == "__main__":
    main()
