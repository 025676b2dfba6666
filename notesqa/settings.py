"""The one settings object every layer receives (env prefix ``NOTESQA_``, optional ``notesqa.toml``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

BundledLLM = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
MILVUS_SCHEMES = ("http://", "https://", "tcp://", "unix:")
"""How a Milvus server address starts (pymilvus's other form, a ``.db`` file, is Milvus Lite)."""


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "notesqa"


class UnknownKnowledgeBaseError(ValueError):
    """A knowledge base name the settings do not define."""


class KnowledgeBase(BaseModel):
    """A notes folder and the index built from it, switched to by name in the UI and the API."""

    notes: Path
    """The notes folder."""
    index: Path
    """Where its index lives (its own folder: two knowledge bases never share one)."""


KB_NAME = r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,40}$"
"""A knowledge base's name: letters, digits, ``_``, ``-`` or Chinese characters, as it appears in model ids
(``qwen2.5-coder-1.5b@reading``)."""


class Settings(BaseSettings):
    """notesqa configuration. Every field can be set as ``NOTESQA_<FIELD>`` or in ``notesqa.toml``."""

    model_config = SettingsConfigDict(
        env_prefix="NOTESQA_",
        toml_file="notesqa.toml",
        extra="ignore",
        validate_assignment=True,
    )

    # --- where things live -------------------------------------------------------------------
    corpus_dir: Path = Path("corpus")
    """Folder of notes (.md, .markdown, .txt, .pdf, .docx, .html) ingested when no path is given."""

    index_dir: Path = Path(".notesqa/index")
    """Index directory (manifest, dense vectors, BM25). Several knowledge bases can live side by side."""

    knowledge_base: str = Field(default="notes", pattern=KB_NAME)
    """The name ``corpus_dir`` and ``index_dir`` go by when the UI and the API offer several knowledge bases."""

    knowledge_bases: dict[str, KnowledgeBase] = Field(default_factory=dict)
    """More knowledge bases to switch to, by name: ``[knowledge_bases.reading]`` with ``notes = "…"`` and
    ``index = "…"`` in ``notesqa.toml`` (or ``NOTESQA_KNOWLEDGE_BASES`` as JSON). The one of ``corpus_dir`` and
    ``index_dir`` comes first."""

    cache_dir: Path = Field(default_factory=_default_cache)
    """Where converted / reassembled bundled models are written once (e5 folder, GGUF files)."""

    data_dir: Path = Path(".notesqa")
    """Where the user's own records live: ``chats.sqlite3`` (conversations, and ratings of answers). Unlike
    ``cache_dir`` nothing here can be rebuilt, so back it up with the notes."""

    # --- embeddings --------------------------------------------------------------------------
    embed_model: Path | None = None
    """A sentence-transformers folder to use instead of the bundled multilingual-e5-small."""

    embed_batch_size: int = Field(default=4, ge=1)
    """Passages per embedding batch (batches are formed from length-sorted passages). On 2 CPU cores ONNX
    Runtime embedded so-large-lm's chunks fastest at 2-8 per batch (fp32: 17, 15, 14 and 10 chunks/s at 2, 4,
    16 and 64; int8: 31, 29, 25 and 19); 4 keeps that speed on machines with more cores. fp32 vectors do not
    depend on it; int8 ones move a little with their batch (activations are quantised per batch)."""

    embed_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    """How the embedding model runs for the index (passages at ingest, questions at search): ``onnx-int8``
    (dynamically quantised after outlier smoothing, :mod:`ingest.onnx_smooth`: about twice the ingest
    throughput of ``onnx``, vectors at cosine 0.999 to fp32, and hybrid MRR within 0.03 of fp32 on the four
    public sets, docs/experiments.md), ``onnx`` (fp32 under ONNX Runtime: the same vectors as torch, 1.3-1.7x
    its throughput, 1.6 s to load instead of 7 s) or ``torch`` (fp32). The ONNX backends need
    ``notesqa[onnx]`` and are exported once into the cache dir (``<model>-onnx/``). ``onnx-int8`` is part of
    the index signature: changing this setting rebuilds the index at the next ingest."""

    context_embed_backend: Literal["same", "torch", "onnx", "onnx-int8"] = "onnx"
    """How the embedding model runs when it reads text for the answer path's decisions: the candidate
    sentences of the prompt (a re-ranking inside the top passages, redone for every question) and the request
    and genre classifiers, whose thresholds were calibrated on fp32 vectors. fp32 ``onnx`` by default (0.11 s
    per question for the sentences; ``onnx-int8`` takes 0.06 s and picked other sentences for a few
    questions, docs/experiments.md); ``same`` uses ``embed_backend`` (one model in memory instead of two).
    Falls back to ``embed_backend`` when ONNX Runtime is not installed."""

    threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1)
    """CPU threads for torch and llama.cpp (never run two generations at once)."""

    # --- vector store ------------------------------------------------------------------------
    vector_backend: Literal["faiss", "milvus"] = "faiss"
    """Dense vector store: ``faiss`` (embedded, files in the index) or ``milvus`` (needs ``notesqa[milvus]``).
    Part of the index signature: switching it rebuilds the index."""

    milvus_uri: str | None = None
    """Milvus server holding one collection per generation, as ``http://host:19530`` (``https://`` for TLS;
    ``tcp://`` and ``unix:`` also work), optionally with ``user:password@`` before the host, which the index
    manifest never records. Unset (or empty), each generation keeps a Milvus Lite database in its folder
    (``gen-N/dense/milvus.db``). A Lite file here (``….db``) is refused: only one process can open one, so the
    UI could not read what an ingest writes."""

    milvus_token: str | None = None
    """Milvus credentials (``user:password`` or an API key) for ``milvus_uri``; unset for a server without
    authentication. Never written to the index."""

    ann_min_chunks: int = Field(default=100_000, ge=1)
    """From this many chunks on the dense index is HNSW (approximate); below it, exact inner product."""

    hnsw_ef_search: int = Field(default=128, ge=1)
    """HNSW search breadth (faiss ``efSearch``, Milvus ``ef``): higher is slower and closer to exact."""

    # --- chunking ----------------------------------------------------------------------------
    chunk_target_tokens: int = Field(default=240, ge=16)
    """Preferred chunk size in embedding-model tokens; chunks close once they reach it."""

    chunk_max_tokens: int = Field(default=400, ge=32, le=500)
    """Hard upper bound in embedding-model tokens (prefix included stays under e5's 512)."""

    chunk_overlap_sentences: int = Field(default=1, ge=0, le=5)
    """Whole sentences repeated at the start of the next chunk when a block is split."""

    ingest_lock_wait_s: float = Field(default=60.0, ge=0)
    """How long an ingest started by the watcher or the UI waits for another writer of the index (``notesqa
    ingest``, a watch re-ingest) before it gives up with "try again"; a full re-embed of a few hundred notes
    takes about this long on 2 cores. A command-line ``notesqa ingest`` does not wait."""

    watch_debounce_ms: int = Field(default=1200, ge=0)
    """How long the notes folder must be quiet before watch mode re-ingests: long enough that an editor's
    save (write, rename, delete of a temporary file) is one change."""

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=50)
    """Passages returned by retrieval (and shown as sources)."""

    candidate_k: int = Field(default=30, ge=1)
    """Candidates taken from each of dense and BM25 before fusion."""

    rrf_k: int = Field(default=30, ge=1)
    """Reciprocal rank fusion constant: score = sum(weight / (rrf_k + rank))."""

    dense_weight: float = Field(default=1.0, ge=0)
    """Weight of the dense ranking in the fusion."""

    bm25_weight: float = Field(default=1.5, ge=0)
    """Weight of the BM25 ranking in the fusion."""

    translate_questions: bool = True
    """English questions also search, and pick the prompt's sentences, with a Chinese rendering made by the
    local model (notes are mostly Chinese; one short model turn after the cached prompt prefix, ~1-2 s)."""

    decompose_questions: bool = True
    """A question that asks several things ("A 是什么？B 有多大？", "X 和 Y 分别…") is answered part by part,
    each with its own search and model turn (``rag.decompose``), then as one answer; costs a model turn per
    part."""

    # --- answering ---------------------------------------------------------------------------
    llm: BundledLLM = "qwen2.5-coder-1.5b"
    """Which bundled GGUF to use when ``llm_path`` is not set."""

    llm_path: Path | None = None
    """Any chat GGUF to use instead of the bundled models (e.g. Qwen2.5-3B-Instruct)."""

    llm_ctx: int = Field(default=2048, ge=512)
    """llama.cpp context window (prompt + generation)."""

    max_reasoning_tokens: int = Field(default=96, ge=8)
    """Budget for the reasoning (the quoted evidence) before the answer is cued."""

    max_answer_tokens: int = Field(default=200, ge=16)
    """Budget for the answer itself (and for its English version, when one is needed)."""

    context_passages: int = Field(default=5, ge=1, le=10)
    """How many of the top retrieved passages the prompt's sentences are picked from (those with nothing
    relevant are left out)."""

    context_max_chars: int = Field(default=350, ge=100)
    """Character budget of the passages in the prompt (keeps time to first token low)."""

    abstain_dense_min_zh: float = 0.82
    """Chinese questions whose best passage's dense cosine is below this are abstained at once, without the
    model: they lie outside what the answerability decision was fitted on (the lowest answerable question
    of both corpora's dev and benign dev sets scored 0.869; off-topic Chinese questions score 0.75-0.82)."""

    abstain_dense_min_en: float = 0.745
    """The same floor for English questions (e5 scores cross-lingual matches lower; the lowest answerable
    English question of those sets scored 0.786)."""

    answerability_min: float = 0.2
    """Least probability that an answer is right (``rag.answerability``) for it to be shown; below it the
    system abstains; 0 shows every answer the model writes. Chosen by ``benchmarks/fit_answerability.py``:
    right answers plus abstentions on unanswerable questions minus wrong answers shown, over both public
    corpora's dev, unanswerable dev and benign dev sets, is highest at 0.20 and 0.25; 0.2 is the first
    (docs/experiments.md, 2026-12-04)."""

    # --- UI ------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    """Address the UI binds to. Anything but loopback requires ``auth``."""

    port: int = Field(default=7860, ge=1, le=65535)
    """UI port."""

    auth: str | None = None
    """Basic auth for the UI as ``user:password``."""

    api_key: str | None = None
    """Bearer key for the OpenAI-compatible API (``/v1/...``, served with the UI). Required when ``host`` is
    not loopback; on loopback it is checked only when set."""

    max_upload_mb: float = Field(default=5.0, gt=0)
    """Largest note the UI accepts for upload."""

    max_note_mb: float = Field(default=20.0, gt=0)
    """Notes larger than this are skipped at ingest with a warning."""

    max_question_chars: int = Field(default=2000, ge=10)
    """Longer questions are refused with a clear message."""

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_server_uri(cls, uri: str | None) -> str | None:
        if not uri or not uri.strip():
            return None
        uri = uri.strip()
        if not uri.lower().startswith(MILVUS_SCHEMES):
            raise ValueError(
                f"milvus_uri {uri!r} is not a Milvus server address (http://host:19530, https://, tcp:// or "
                "unix:); leave it unset to keep a Milvus Lite database in each index generation")
        return uri

    @field_validator("knowledge_bases")
    @classmethod
    def _names(cls, value: dict[str, KnowledgeBase]) -> dict[str, KnowledgeBase]:
        import re

        bad = [name for name in value if not re.match(KB_NAME, name)]
        if bad:
            raise ValueError(f"knowledge base names may hold letters, digits, _ and - only: {', '.join(bad)}")
        return value

    def knowledge_base_names(self) -> list[str]:
        """Every knowledge base by name, the configured ``corpus_dir``/``index_dir`` first."""
        return [self.knowledge_base, *(n for n in self.knowledge_bases if n != self.knowledge_base)]

    def for_knowledge_base(self, name: str | None) -> Settings:
        """These settings with the notes folder and index of knowledge base ``name`` (``None``: the first);
        ``UnknownKnowledgeBaseError`` for an unknown name."""
        if not name or name == self.knowledge_base:
            return self
        if name not in self.knowledge_bases:
            names = ", ".join(self.knowledge_base_names())
            raise UnknownKnowledgeBaseError(f"No knowledge base {name!r}; there are: {names}.")
        kb = self.knowledge_bases[name]
        return self.model_copy(update={"corpus_dir": kb.notes, "index_dir": kb.index, "knowledge_base": name})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
