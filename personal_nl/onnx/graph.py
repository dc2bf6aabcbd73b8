"""The decode graph: the model's math for one onnxruntime call, with every user-dependent tensor an input.

One graph reads ``ids [B, T]`` after a KV cache and returns the last position's logits and the grown
cache. Learning never forces a re-export, because what depends on the user enters as inputs:

- the *online* levels' deltas (full matrices, learned turn by turn), each as its own small matmul
  beside the base weight's (x·Wᵀ + x·Δᵀ), so the base MatMul keeps a constant weight that
  quantization can replace (issue 4 measured −25 % speed for 6 layers whose weights were inputs);
- the *slow* levels' low-rank factors (Δ = U·V, consolidated in sleep), as x·Vᵀ·Uᵀ: two thin
  matmuls, a few percent of the base product. Gate and up share one pair (their inputs side by side,
  their outputs block-diagonal), so a level costs four thin matmuls, not six.

The rank is a symbolic dimension: several low-rank sets on one matrix are one set concatenated along it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from personal_nl.cms import DELTA_NAMES
from personal_nl.layers import rope_tables
from personal_nl.model import HopeLM
from personal_nl.onnx.attention import attention_op, translation_table

log = logging.getLogger(__name__)

LevelKey = tuple[int, int]  # (block, level)
EXPORT_FORMAT = 3  # bump when the graph changes, so cached exports are rebuilt
OPSET = 18
# The factor inputs of one slow level: gate and up share "in" [B, dim, 2r] and "out" [B, 2r, 2·hidden]
# (block-diagonal), down has its own pair [B, hidden, r] and [B, r, dim].
FACTOR_NAMES = ("gate_up_in", "gate_up_out", "down_in", "down_out")


class UnsupportedModel(ValueError):
    """The model has parts this backend cannot export (Titans or hybrid mixers)."""


def online_level_keys(model: HopeLM, online_layers: Sequence[int] | None = None) -> tuple[LevelKey, ...]:
    """The (block, level) pairs whose full deltas become graph inputs: every level of ``online_layers``,
    or by default every level that learns while reading (online, lr > 0)."""
    if online_layers is None:
        return tuple(sorted((b, i) for b, block in enumerate(model.blocks) for i, lvl in enumerate(block.cms.levels)
                            if lvl.spec.online and lvl.spec.lr > 0))
    return _levels_of(model, online_layers)


def _levels_of(model: HopeLM, layers: Sequence[int]) -> tuple[LevelKey, ...]:
    bad = [b for b in layers if not 0 <= b < model.cfg.n_layers]
    if bad:
        raise ValueError(f"layer {bad[0]} does not exist; the model has {model.cfg.n_layers} layers")
    return tuple((b, i) for b in sorted(set(layers)) for i in range(len(model.blocks[b].cms.levels)))


def check_supported(model: HopeLM) -> None:
    other = sorted({m for m in model.cfg.mixers if m != "attention"})
    if other:
        raise UnsupportedModel(f"the onnxruntime decoder handles attention mixers only; this model has {other[0]!r} "
                               "layers (decode it with personal_nl.generate.stream)")
    if model.cfg.dim_head % 16:
        raise UnsupportedModel(f"onnxruntime's attention needs a head size that is a multiple of 16; this model's "
                               f"is {model.cfg.dim_head} (decode it with personal_nl.generate.stream)")


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # x / sqrt(·), not x · rsqrt(·): the form onnxruntime fuses into one SimplifiedLayerNormalization.
    return weight * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class _DecodeGraph(nn.Module):
    """The model's math for export, in fp32 with every weight pre-transposed so each projection is
    ``MatMul(x, constant)``, the form onnxruntime's quantizers recognise; attention, RoPE and the
    cache growth are one GroupQueryAttention node per layer (``personal_nl.onnx.attention``)."""

    def __init__(self, model: HopeLM, online: tuple[LevelKey, ...], slow: tuple[LevelKey, ...]) -> None:
        super().__init__()
        cfg = model.cfg
        self.n_heads, self.n_kv, self.eps = cfg.n_heads, cfg.kv_heads, cfg.norm_eps
        self.online, self.slow = set(online), set(slow)
        self.n_levels = [len(block.cms.levels) for block in model.blocks]

        def keep(name: str, *ws: torch.Tensor, transpose: bool = False) -> None:
            """One buffer; several weights are stacked along the output so they share one MatMul (one
            activation quantization and one kernel call instead of several in quantized graphs)."""
            w = torch.cat([w.detach().to(torch.float32) for w in ws], dim=0)
            self.register_buffer(name, w.t().contiguous() if transpose else w.clone(), persistent=False)

        keep("embed", model.embed.weight)
        keep("head_t", model.head.weight, transpose=True)
        keep("norm", model.norm.weight)
        cos, sin = rope_tables(torch.arange(cfg.max_seq_len), cfg.dim_head, cfg.rope_theta, torch.float32)
        keep("cos", cos[:, :cfg.dim_head // 2])  # rotate-half tables repeat their first half
        keep("sin", sin[:, :cfg.dim_head // 2])
        self.attend = attention_op()
        for b, block in enumerate(model.blocks):
            keep(f"b{b}_norm", block.norm.weight)
            mixer = block.mixer
            keep(f"b{b}_qkv_t", mixer.q_proj.weight, mixer.k_proj.weight, mixer.v_proj.weight, transpose=True)
            keep(f"b{b}_o_t", mixer.o_proj.weight, transpose=True)
            for i, level in enumerate(block.cms.levels):
                keep(f"b{b}_l{i}_norm", level.norm.weight)
                keep(f"b{b}_l{i}_gate_up_t", level.mlp.gate, level.mlp.up, transpose=True)
                keep(f"b{b}_l{i}_down_t", level.mlp.down, transpose=True)

    def w(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def forward(self, ids: torch.Tensor, past: list[torch.Tensor], deltas: list[torch.Tensor],
                factors: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """ids [B, T]; past 2·L tensors [B, H_kv, P, D]; deltas 3 per online level, transposed like the
        weights ([B, in, out]); factors 4 per slow level (FACTOR_NAMES) -> logits [B, vocab] at the
        last position, then the 2·L grown caches."""
        B, T = ids.shape
        P = past[0].shape[2]
        H, Hkv = self.n_heads, self.n_kv
        x = F.embedding(ids, self.embed)  # [B, T, D]
        seqlens_k = torch.full((B,), P + T - 1, dtype=torch.int32, device=ids.device)
        total = torch.full((), P + T, dtype=torch.int32, device=ids.device)
        given, low = iter(deltas), iter(factors)
        present = []
        for b in range(len(self.n_levels)):
            h = _rms(x, self.w(f"b{b}_norm"), self.eps)
            qkv = h @ self.w(f"b{b}_qkv_t")  # [B, T, (H + 2·Hkv)·Dh]
            y, k, v = self.attend(qkv, past[2 * b], past[2 * b + 1], seqlens_k, total, self.cos, self.sin, H, Hkv)
            present += [k, v]  # [B, Hkv, P+T, Dh] each
            x = x + y @ self.w(f"b{b}_o_t")
            for i in range(self.n_levels[b]):
                h = _rms(x, self.w(f"b{b}_l{i}_norm"), self.eps)
                gate_up = h @ self.w(f"b{b}_l{i}_gate_up_t")  # [B, T, 2·hidden]; θ₀ stays a constant
                full = (next(given), next(given), next(given)) if (b, i) in self.online else None
                thin = (next(low), next(low), next(low), next(low)) if (b, i) in self.slow else None
                if thin is not None:
                    gate_up = gate_up + (h @ thin[0]) @ thin[1]
                gate, up = gate_up.chunk(2, dim=-1)  # [B, T, hidden] each
                if full is not None:
                    gate, up = gate + h @ full[0], up + h @ full[1]
                h = F.silu(gate) * up
                out = h @ self.w(f"b{b}_l{i}_down_t")
                if full is not None:
                    out = out + h @ full[2]
                if thin is not None:
                    out = out + (h @ thin[2]) @ thin[3]
                x = x + out
        logits = _rms(x[:, -1], self.norm, self.eps) @ self.head_t  # [B, vocab]
        return (logits, *present)


def input_names(n_layers: int, online: Sequence[LevelKey], slow: Sequence[LevelKey]) -> list[str]:
    past = [f"past.{b}.{kv}" for b in range(n_layers) for kv in ("key", "value")]
    return ["ids", *past, *(f"delta_t.{b}.{i}.{n}" for b, i in online for n in DELTA_NAMES),
            *(f"factor.{b}.{i}.{n}" for b, i in slow for n in FACTOR_NAMES)]


def export(model: HopeLM, path: str | Path, *, online_layers: Sequence[int] | None = None,
           slow_layers: Sequence[int] = ()) -> Path:
    """Write the fp32 decode graph of ``model`` to ``path`` (ONNX, opset 18, one file). Batch, new
    tokens, cache length and rank are symbolic; the full deltas of ``online_layers`` (default: the
    levels that learn online) and the low-rank factors of ``slow_layers`` are inputs. Raises
    UnsupportedModel for Titans or hybrid mixers."""
    check_supported(model)
    cfg = model.cfg
    online, slow = online_level_keys(model, online_layers), _levels_of(model, slow_layers)
    graph = _DecodeGraph(model, online, slow).eval()
    B, T, P, R = 2, 3, 5, 4  # example sizes: none is 0 or 1, which the exporter would freeze as constants
    ids = torch.zeros(B, T, dtype=torch.int64)
    past = [torch.zeros(B, cfg.kv_heads, P, cfg.dim_head) for _ in range(2 * cfg.n_layers)]
    weights = {key: model.blocks[key[0]].cms.levels[key[1]].weights() for key in (*online, *slow)}
    deltas = [torch.zeros(B, *weights[key][n].shape[::-1]) for key in online for n in DELTA_NAMES]
    factors = []
    for key in slow:
        hidden, dim = weights[key]["gate"].shape
        factors += [torch.zeros(B, dim, 2 * R), torch.zeros(B, 2 * R, 2 * hidden),
                    torch.zeros(B, hidden, R), torch.zeros(B, R, dim)]
    batch = torch.export.Dim("batch", min=1, max=1024)
    new = torch.export.Dim("new", min=1, max=cfg.max_seq_len)
    past_len = torch.export.Dim("past", min=0, max=cfg.max_seq_len)
    rank = torch.export.Dim("rank", min=1, max=4096)
    factor_shapes = [{0: batch, 2: 2 * rank}, {0: batch, 1: 2 * rank}, {0: batch, 2: rank}, {0: batch, 1: rank}]
    shapes = ({0: batch, 1: new}, [{0: batch, 2: past_len}] * len(past), [{0: batch}] * len(deltas),
              factor_shapes * len(slow))
    outputs = ["logits", *(f"present.{b}.{kv}" for b in range(cfg.n_layers) for kv in ("key", "value"))]
    started = time.perf_counter()
    # The exporter narrates every stage on stdout and warns about optional packages: a library stays quiet.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(graph, (ids, past, deltas, factors), dynamo=True, opset_version=OPSET,
                                        input_names=input_names(cfg.n_layers, online, slow), output_names=outputs,
                                        dynamic_shapes=shapes, custom_translation_table=translation_table(),
                                        verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.model.metadata_props.update({
        "hope.format": str(EXPORT_FORMAT), "hope.max_seq_len": str(cfg.max_seq_len),
        "hope.vocab_size": str(cfg.vocab_size),
        "hope.levels_per_block": json.dumps([len(block.cms.levels) for block in model.blocks])})
    path = Path(path)
    program.save(str(path), external_data=False)
    log.info("exported the decode graph (%d layers, %d online and %d slow levels) in %.1f s", cfg.n_layers,
             len(online), len(slow), time.perf_counter() - started)
    return path
