"""With every CMS learning rate at 0, Hope-Attention is a plain pre-norm Llama-style Transformer."""

from __future__ import annotations

import dataclasses
import math

import torch

from personal_nl import HopeLM, learn
from personal_nl.config import CMSLevel, tiny


def reference_transformer(m: HopeLM, ids: torch.Tensor) -> torch.Tensor:
    """An independent, textbook forward over the same weights: RMSNorm, RoPE attention, SwiGLU."""
    cfg = m.cfg
    H, Hkv, D = cfg.n_heads, cfg.kv_heads, cfg.dim_head

    def rms(x, w):
        return w * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + cfg.norm_eps)

    def rope(x):  # x [B, H, T, D], rotate-half pairs (i, i + D/2)
        T = x.shape[2]
        freqs = [cfg.rope_theta ** (-2 * i / D) for i in range(D // 2)]
        ang = torch.tensor([[t * f for f in freqs] for t in range(T)], dtype=x.dtype)
        cos, sin = ang.cos(), ang.sin()
        a, b = x[..., : D // 2], x[..., D // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)

    x = m.embed.weight[ids]
    B, T, _ = x.shape
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for block in m.blocks:
        att = block.mixer
        h = rms(x, block.norm.weight)
        q = rope((h @ att.q_proj.weight.T).view(B, T, H, D).transpose(1, 2))
        k = rope((h @ att.k_proj.weight.T).view(B, T, Hkv, D).transpose(1, 2)).repeat_interleave(H // Hkv, 1)
        v = (h @ att.v_proj.weight.T).view(B, T, Hkv, D).transpose(1, 2).repeat_interleave(H // Hkv, 1)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(~causal, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + y @ att.o_proj.weight.T
        for level in block.cms.levels:
            h = rms(x, level.norm.weight)
            mlp = level.mlp
            x = x + (torch.nn.functional.silu(h @ mlp.gate.T) * (h @ mlp.up.T)) @ mlp.down.T
    return rms(x, m.norm.weight) @ m.embed.weight.T


def test_hope_attention_with_learning_rates_at_zero_is_a_plain_transformer():
    cfg = tiny("attention")
    frozen = tuple(tuple(dataclasses.replace(level, lr=0.0) for level in levels) for levels in cfg.cms)
    cfg = dataclasses.replace(cfg, cms=frozen, n_kv_heads=2)
    torch.manual_seed(0)
    m = HopeLM(cfg).double()
    ids = torch.randint(0, cfg.vocab_size, (2, 50), generator=torch.Generator().manual_seed(0))
    reference = reference_transformer(m, ids)
    logits, _, _ = learn.online_forward(m, ids, learn.start(m))
    torch.testing.assert_close(logits, reference, rtol=0, atol=1e-10)


def test_learning_levels_make_it_diverge_from_the_plain_transformer():
    cfg = dataclasses.replace(tiny("attention"), cms=((CMSLevel(period=8, lr=0.5, hidden=48),),) * 2)
    torch.manual_seed(0)
    m = HopeLM(cfg).double()
    ids = torch.randint(0, cfg.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0))
    logits, _, _ = learn.online_forward(m, ids, learn.start(m))
    reference = reference_transformer(m, ids)
    torch.testing.assert_close(logits[:, :8], reference[:, :8], rtol=0, atol=1e-10)  # before the first step
    assert (logits[:, 8:] - reference[:, 8:]).abs().max() > 1e-4
