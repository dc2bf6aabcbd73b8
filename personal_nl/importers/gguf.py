"""GGUF (llama.cpp) → Hope-Attention: read with the ``gguf`` package, dequantize every tensor to fp32,
map names through KEY_MAP and undo llama.cpp's q/k row permutation.

Only the ``llama`` architecture converts; the tokenizer and chat template come from the file's own
metadata, so a GGUF alone is a complete model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch

from personal_nl.chat import ChatTokenizer
from personal_nl.importers.llama import LAYER_TARGETS, LlamaShape, Progress, build, expand, unpermute_rope_rows
from personal_nl.model import HopeLM

log = logging.getLogger(__name__)

ARCHITECTURES = ("llama",)

KEY_MAP = {  # GGUF tensor name -> HopeLM parameter; {i} is the layer
    "token_embd.weight": "embed.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "head.weight",
    "blk.{i}.attn_norm.weight": LAYER_TARGETS["attn_norm"],
    "blk.{i}.attn_q.weight": LAYER_TARGETS["q"],
    "blk.{i}.attn_k.weight": LAYER_TARGETS["k"],
    "blk.{i}.attn_v.weight": LAYER_TARGETS["v"],
    "blk.{i}.attn_output.weight": LAYER_TARGETS["o"],
    "blk.{i}.ffn_norm.weight": LAYER_TARGETS["mlp_norm"],
    "blk.{i}.ffn_gate.weight": LAYER_TARGETS["gate"],
    "blk.{i}.ffn_up.weight": LAYER_TARGETS["up"],
    "blk.{i}.ffn_down.weight": LAYER_TARGETS["down"],
}
# Rows llama.cpp permuted for its interleaved RoPE, and which head count it permuted them with.
ROPE_PERMUTED = {".attn_q.weight": "n_heads", ".attn_k.weight": "n_kv_heads"}


def open_gguf(path: str | Path) -> gguf.GGUFReader:
    """The file's reader; a truncated or corrupt file is one ValueError, not a numpy traceback."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    try:
        return gguf.GGUFReader(path)
    except Exception as err:  # the reader fails with ValueError, IndexError or struct errors alike
        raise ValueError(f"{path} is not a readable GGUF file (truncated or corrupt?): {err}") from None


def metadata(reader: gguf.GGUFReader) -> dict[str, Any]:
    """Every key/value field as plain Python values (strings, numbers, lists)."""
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def _int(meta: dict[str, Any], key: str, default: int | None = None) -> int:
    value = meta.get(key, default)
    if value is None:
        raise ValueError(f"GGUF metadata lacks {key!r}")
    if isinstance(value, list):
        raise ValueError(f"GGUF metadata {key!r} varies per layer ({value[:4]}…); only uniform layers convert")
    return int(value)


def llama_shape(meta: dict[str, Any], tensor_names: set[str]) -> LlamaShape:
    """The model's hyperparameters from ``llama.*`` metadata; refuses what Hope-Attention can't express."""
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"GGUF architecture {arch!r} is not supported; only {', '.join(ARCHITECTURES)} converts")
    if meta.get("llama.expert_count", 0):
        raise ValueError(f"mixture-of-experts Llama ({meta['llama.expert_count']} experts) is not supported")
    scaling = meta.get("llama.rope.scaling.type", "none")
    if scaling != "none" or "rope_freqs.weight" in tensor_names:
        raise ValueError(f"RoPE scaling {scaling!r} is not supported (plain RoPE only)")
    d_model = _int(meta, "llama.embedding_length")
    n_heads = _int(meta, "llama.attention.head_count")
    head_dim = _int(meta, "llama.attention.key_length", d_model // n_heads)
    rope_dim = _int(meta, "llama.rope.dimension_count", head_dim)
    if rope_dim != head_dim or _int(meta, "llama.attention.value_length", head_dim) != head_dim:
        raise ValueError(f"partial RoPE or unequal key/value widths (rope {rope_dim}, head {head_dim}) "
                         "are not supported")
    tokens = meta.get("tokenizer.ggml.tokens")
    return LlamaShape(
        vocab_size=_int(meta, "llama.vocab_size", len(tokens) if tokens else None),
        d_model=d_model,
        n_layers=_int(meta, "llama.block_count"),
        n_heads=n_heads,
        n_kv_heads=_int(meta, "llama.attention.head_count_kv", n_heads),
        head_dim=head_dim,
        ffn_hidden=_int(meta, "llama.feed_forward_length"),
        max_seq_len=_int(meta, "llama.context_length"),
        rope_theta=float(meta.get("llama.rope.freq_base", 10000.0)),
        norm_eps=float(meta.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        tie_embeddings="output.weight" not in tensor_names,
    )


def _dequantized(reader: gguf.GGUFReader, shape: LlamaShape) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, fp32 tensor) in file order, q/k rows back in rotate-half order."""
    heads = {"n_heads": shape.n_heads, "n_kv_heads": shape.n_kv_heads}
    for t in reader.tensors:
        try:
            array = gguf.quants.dequantize(t.data, t.tensor_type)
        except (NotImplementedError, ValueError) as err:
            raise ValueError(f"tensor {t.name!r} of type {t.tensor_type.name} can't be dequantized: {err}") from None
        # F32 tensors are views of the read-only file mapping and get copied; dequantized ones are fresh.
        tensor = torch.from_numpy(np.require(array, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))
        for suffix, count in ROPE_PERMUTED.items():
            if t.name.endswith(suffix):
                tensor = unpermute_rope_rows(tensor, heads[count])
        yield t.name, tensor


def read_gguf(path: str | Path) -> tuple[gguf.GGUFReader, dict[str, Any], LlamaShape]:
    """Open a GGUF and check it converts, without dequantizing anything."""
    reader = open_gguf(path)
    meta = metadata(reader)
    return reader, meta, llama_shape(meta, {t.name for t in reader.tensors})


def import_gguf(path: str | Path, *, period: int | None = None,
                on_progress: Progress | None = None) -> tuple[HopeLM, ChatTokenizer, dict[str, Any]]:
    """Model, tokenizer and a description of the source from one llama-architecture GGUF file."""
    reader, meta, shape = read_gguf(path)
    tokenizer = ChatTokenizer.from_gguf_metadata(meta)
    if tokenizer.vocab_size > shape.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model only {shape.vocab_size}")
    model = build(shape, _dequantized(reader, shape), expand(KEY_MAP, shape.n_layers),
                  period=period, on_progress=on_progress)
    types = sorted({t.tensor_type.name for t in reader.tensors})
    log.info("imported GGUF %s: %d layers, %d parameters, tensor types %s",
             Path(path).name, shape.n_layers, model.num_params(), ",".join(types))
    source = {"format": "gguf", "architecture": meta["general.architecture"], "file": Path(path).name,
              "name": meta.get("general.name", Path(path).stem), "tensor_types": types}
    return model, tokenizer, source
