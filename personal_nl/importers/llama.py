"""Llama → Hope-Attention (hope-spec §5, per-layer assignment): attention is kept as it is, and each
layer's MLP becomes that layer's single CMS level, its pretrained weights θ₀ and its learning rate 0,
so the converted model reproduces the original logits until an online assignment is chosen.

The format readers (``gguf.py``, ``hf.py``) only name tensors; this module owns the config, the
shape check per tensor and llama.cpp's q/k row order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from personal_nl.config import CMSLevel, HopeConfig
from personal_nl.model import HopeLM

Progress = Callable[[str, int, int], None]

# Our names for one Llama layer's tensors, shared by every format's KEY_MAP.
LAYER_TARGETS = {
    "attn_norm": "blocks.{i}.norm.weight",
    "q": "blocks.{i}.mixer.q_proj.weight",
    "k": "blocks.{i}.mixer.k_proj.weight",
    "v": "blocks.{i}.mixer.v_proj.weight",
    "o": "blocks.{i}.mixer.o_proj.weight",
    "mlp_norm": "blocks.{i}.cms.levels.0.norm.weight",
    "gate": "blocks.{i}.cms.levels.0.mlp.gate",
    "up": "blocks.{i}.cms.levels.0.mlp.up",
    "down": "blocks.{i}.cms.levels.0.mlp.down",
}


@dataclass(frozen=True)
class LlamaShape:
    """The hyperparameters a Llama-family file states, whatever its format."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_hidden: int
    max_seq_len: int
    rope_theta: float
    norm_eps: float
    tie_embeddings: bool

    def hope_config(self, period: int | None = None) -> HopeConfig:
        """One attention mixer and one CMS level (the layer's MLP, lr 0) per layer. A level at lr 0
        never steps, so its period only matters once an online assignment sets a rate; until then
        it defaults to the context length."""
        level = CMSLevel(period=self.max_seq_len if period is None else period, lr=0.0, hidden=self.ffn_hidden)
        return HopeConfig(
            vocab_size=self.vocab_size, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
            max_seq_len=self.max_seq_len, mixers=("attention",) * self.n_layers, cms=((level,),) * self.n_layers,
            n_kv_heads=self.n_kv_heads, head_dim=self.head_dim, rope_theta=self.rope_theta,
            norm_eps=self.norm_eps, tie_embeddings=self.tie_embeddings,
        )


def expand(key_map: dict[str, str], n_layers: int) -> dict[str, str]:
    """A KEY_MAP with ``{i}`` patterns, written out for every layer: source name → our name."""
    out = {}
    for src, dst in key_map.items():
        if "{i}" in src:
            out.update({src.format(i=i): dst.format(i=i) for i in range(n_layers)})
        else:
            out[src] = dst
    return out


def unpermute_rope_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """llama.cpp's converter reorders each head's q/k rows from rotate-half pairs (i, i + D/2) to
    interleaved pairs (2i, 2i + 1) for its own RoPE; put them back so our rotate-half RoPE applies.

    w [n_heads · D, d_model]: row h·D + 2j + s of the file is row h·D + s·D/2 + j of the original."""
    rows, cols = w.shape
    if rows % (2 * n_heads):
        raise ValueError(f"cannot split {rows} rows into {n_heads} heads of even size")
    return w.reshape(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def build(shape: LlamaShape, tensors: Iterable[tuple[str, torch.Tensor]], key_map: dict[str, str],
          *, period: int | None = None, on_progress: Progress | None = None) -> HopeLM:
    """A HopeLM whose every tensor comes from ``tensors`` (source name, tensor) through ``key_map``
    (already expanded); a tensor the map doesn't know, a wrong shape or a missing tensor is a
    ValueError naming it. With tied embeddings the map's output head is left out."""
    cfg = shape.hope_config(period)
    with torch.device("meta"):  # shapes only: every tensor comes from the file, so nothing is initialised
        model = HopeLM(cfg)
    expected = {k: v.shape for k, v in model.state_dict().items() if not (cfg.tie_embeddings and k == "head.weight")}
    if shape.tie_embeddings:
        key_map = {src: dst for src, dst in key_map.items() if dst != "head.weight"}
    state: dict[str, torch.Tensor] = {}
    for name, tensor in tensors:
        if name not in key_map:
            raise ValueError(f"tensor {name!r} has no place in a Llama model (unsupported variant?)")
        if tensor.shape != expected[key_map[name]]:
            raise ValueError(f"tensor {name!r} has shape {list(tensor.shape)}, expected "
                             f"{list(expected[key_map[name]])} for {key_map[name]}")
        state[key_map[name]] = tensor
        if on_progress is not None:
            on_progress("tensors", len(state), len(key_map))
    missing = sorted(src for src, dst in key_map.items() if dst not in state)
    if missing:
        raise ValueError(f"the file lacks tensor {missing[0]!r} ({len(missing)} missing in all)")
    model.load_state_dict(state, strict=False, assign=True)
    if cfg.tie_embeddings:  # assigning replaced the shared parameter; share the loaded one again
        model.head.weight = model.embed.weight
    return model
