"""Raw llama.cpp speed of the installed build: prompt reading and generation tok/s (``python benchmarks/llm_speed.py``).

Prints the CPU features the build was compiled with, then reads a Chinese prompt of about the length the
answering prompt's passages and question have (~180 tokens) from an empty cache, ``--repeat`` times, and
generates ``--gen`` tokens (``LocalLLM.speed``, which ``notesqa bench --only answer`` prints too). To compare
builds, install llama-cpp-python with other flags (``make setup LLAMA_CMAKE_ARGS=...``) and run it again; or
run both builds alternately (``PYTHONPATH=/path/to/other/build python benchmarks/llm_speed.py``), as a
shared machine's speed drifts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notesqa.settings import Settings
from rag.llm import LocalLLM, build_features, model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=180, help="prompt length to read")
    ap.add_argument("--gen", type=int, default=64, help="tokens to generate")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import llama_cpp

    settings = Settings()
    llm = LocalLLM(model_path(settings), settings.llm_ctx, settings.threads)
    print(f"llama-cpp-python {llama_cpp.__version__} from {Path(llama_cpp.__file__).parent}")
    print("built with: " + ", ".join(build_features()))
    with llm.turn():
        speed = llm.speed(args.tokens, args.gen, args.repeat)
    print(f"model {llm.name}, {speed['threads']} threads")
    print(f"prompt: {speed['prompt_tokens']} tokens, {speed['prompt_tok_s']} tok/s (median of {args.repeat})")
    print(f"generation: {speed['generate_tok_s']} tok/s")


if __name__ == "__main__":
    main()
