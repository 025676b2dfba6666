"""Time to first token as a user sees it: ask questions through the running UI's API and time the stream.

    python benchmarks/ui_first_token.py http://127.0.0.1:7860/ "Kosmos-1 有多少参数?" "What is speculative decoding?"

Prints, per question: seconds to the first streamed update with reasoning text, to the first answer text,
and to the final answer, plus the answer and its sources' file names.
"""

from __future__ import annotations

import json
import re
import sys
import time

from gradio_client import Client


def _text(content: object) -> str:
    """Message content as text (gradio 6 sends a list of parts)."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


def main() -> None:
    url, questions = sys.argv[1], sys.argv[2:]
    client = Client(url, verbose=False)
    for q in questions:
        t0 = time.perf_counter()
        first_reasoning = first_answer = None
        job = client.submit(q, [], 3, True, "qwen2.5-coder-1.5b", api_name="/respond")
        for chat, _sources, _box in job:
            msgs = [m for m in chat if m["role"] == "assistant"]
            thought = next((m for m in msgs if (m.get("metadata") or {}).get("title")), None)
            reply = msgs[-1] if msgs else None
            if first_reasoning is None and thought and _text(thought["content"]):
                first_reasoning = time.perf_counter() - t0
            text = _text(reply["content"]) if reply else ""
            if first_answer is None and reply is not thought and text and not text.startswith("⏳"):
                first_answer = time.perf_counter() - t0
        chat, sources, _box = job.result()
        total = time.perf_counter() - t0
        files = sorted(set(re.findall(r"\[\d+\] ([\w.]+\.(?:txt|md))", sources)))
        print(json.dumps({"question": q, "first_reasoning_s": first_reasoning and round(first_reasoning, 2),
                          "first_answer_s": first_answer and round(first_answer, 2), "total_s": round(total, 2),
                          "answer": _text(chat[-1]["content"])[:200], "sources": files}, ensure_ascii=False))


if __name__ == "__main__":
    main()
