"""Hugging Face Llama-family folder (config.json + *.safetensors + tokenizer.json) → Hope-Attention.

Accepted ``model_type`` values are those whose transformers modeling is Llama's computation:
``llama``, and ``mistral`` (the same blocks; its sliding window caps our context so attention never
reaches past it). Anything with biases, other activations or scaled RoPE is refused by name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from personal_nl.chat import ChatTokenizer, read_json_object
from personal_nl.importers.llama import LAYER_TARGETS, LlamaShape, Progress, build, expand
from personal_nl.model import HopeLM

log = logging.getLogger(__name__)

MODEL_TYPES = ("llama", "mistral")

KEY_MAP = {  # safetensors name -> HopeLM parameter; {i} is the layer
    "model.embed_tokens.weight": "embed.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "head.weight",
    "model.layers.{i}.input_layernorm.weight": LAYER_TARGETS["attn_norm"],
    "model.layers.{i}.self_attn.q_proj.weight": LAYER_TARGETS["q"],
    "model.layers.{i}.self_attn.k_proj.weight": LAYER_TARGETS["k"],
    "model.layers.{i}.self_attn.v_proj.weight": LAYER_TARGETS["v"],
    "model.layers.{i}.self_attn.o_proj.weight": LAYER_TARGETS["o"],
    "model.layers.{i}.post_attention_layernorm.weight": LAYER_TARGETS["mlp_norm"],
    "model.layers.{i}.mlp.gate_proj.weight": LAYER_TARGETS["gate"],
    "model.layers.{i}.mlp.up_proj.weight": LAYER_TARGETS["up"],
    "model.layers.{i}.mlp.down_proj.weight": LAYER_TARGETS["down"],
}
# Buffers older checkpoints saved that carry no learned value.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def read_config(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.is_file():
        raise ValueError(f"{directory} is not a Hugging Face model folder: config.json is missing")
    return read_json_object(path)


def llama_shape(config: dict[str, Any]) -> LlamaShape:
    """Hyperparameters from config.json; refuses every Llama variant our blocks don't compute."""
    kind = config.get("model_type")
    if kind not in MODEL_TYPES:
        raise ValueError(f"model_type {kind!r} is not supported; Llama-family only: {', '.join(MODEL_TYPES)}")
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {config['hidden_act']!r} is not supported (SwiGLU with silu only)")
    for flag in ("attention_bias", "mlp_bias"):
        if config.get(flag):
            raise ValueError(f"{flag}=true is not supported (Hope-Attention projections have no bias)")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"RoPE type {rope_type!r} is not supported (plain RoPE only)")
    try:
        d_model, n_heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        max_seq_len = int(config["max_position_embeddings"])
        window = config.get("sliding_window")
        if kind == "mistral" and window is not None and window < max_seq_len:
            log.info("sliding window %d caps the context (was %d)", window, max_seq_len)
            max_seq_len = int(window)
        return LlamaShape(
            vocab_size=int(config["vocab_size"]),
            d_model=d_model,
            n_layers=int(config["num_hidden_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(config.get("num_key_value_heads") or n_heads),
            head_dim=int(config.get("head_dim") or d_model // n_heads),
            ffn_hidden=int(config["intermediate_size"]),
            max_seq_len=max_seq_len,
            rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
            norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except KeyError as err:
        raise ValueError(f"config.json lacks {err.args[0]!r}") from None


def _weights(directory: Path, shape: LlamaShape) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, fp32 tensor) from every safetensors file; a tied head saved anyway is skipped."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{directory} has no *.safetensors weights")
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as f:
                for name in f.keys():
                    if name.endswith(IGNORED_SUFFIXES) or (shape.tie_embeddings and name == "lm_head.weight"):
                        continue
                    yield name, f.get_tensor(name).float()
        except Exception as err:  # safetensors raises its own error types for corrupt files
            raise ValueError(f"{file} is unreadable or corrupt: {err}") from None


def import_hf(directory: str | Path, *, period: int | None = None,
              on_progress: Progress | None = None) -> tuple[HopeLM, ChatTokenizer, dict[str, Any]]:
    """Model, tokenizer and a description of the source from a Hugging Face Llama-family folder."""
    directory = Path(directory)
    config = read_config(directory)
    shape = llama_shape(config)
    tokenizer = ChatTokenizer.from_hf_dir(directory)
    if tokenizer.vocab_size > shape.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model only {shape.vocab_size}")
    model = build(shape, _weights(directory, shape), expand(KEY_MAP, shape.n_layers),
                  period=period, on_progress=on_progress)
    log.info("imported %s folder %s: %d layers, %d parameters", config["model_type"], directory.name,
             shape.n_layers, model.num_params())
    source = {"format": "hf", "architecture": config["model_type"], "file": directory.name,
              "name": config.get("_name_or_path") or directory.name}
    return model, tokenizer, source
