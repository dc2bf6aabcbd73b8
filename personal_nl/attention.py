"""Causal softmax attention with RoPE, grouped-query heads and a KV cache (Hope-Attention's mixer)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from personal_nl.config import HopeConfig
from personal_nl.layers import apply_rope, rope_tables


@functools.lru_cache(maxsize=32)
def _rope(position: int, T: int, dim: int, theta: float, dtype: torch.dtype, device: torch.device):
    """Every layer of a forward reads the same positions: build their tables once (as normal tensors,
    even under inference_mode, so a cached table can later enter a graph that learns)."""
    with torch.inference_mode(False), torch.no_grad():
        return rope_tables(torch.arange(position, position + T, device=device), dim, theta, dtype)


class KVCache(NamedTuple):
    k: torch.Tensor  # [B, H_kv, T_past, D]
    v: torch.Tensor  # [B, H_kv, T_past, D]


class Attention(nn.Module):
    def __init__(self, cfg: HopeConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.dim_head
        self.rope_theta = cfg.rope_theta
        self.q_proj = nn.Linear(cfg.d_model, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor, cache: KVCache | None, position: int) -> tuple[torch.Tensor, KVCache]:
        """x [B, T, D] at absolute positions position…position+T−1; returns y and the grown cache."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, T, D]
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)  # [B, Hkv, T, D]
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        cos, sin = _rope(position, T, self.head_dim, self.rope_theta, x.dtype, x.device)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = torch.cat([cache.k, k], dim=2), torch.cat([cache.v, v], dim=2)
        past = k.shape[2] - T
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv != self.n_heads)
        else:  # queries at past…past+T−1 see keys 0…their own position
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.n_kv != self.n_heads)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(y), KVCache(k, v)
