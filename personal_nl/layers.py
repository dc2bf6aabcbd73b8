"""Small building blocks shared by the mixers and the CMS: RMSNorm, rotary embeddings, causal conv."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp32 for half-precision tensors, without rounding fp64 ones (the oracle tests run in fp64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 like Llama, so converted models match their reference bit for bit.
        xf = at_least_fp32(x)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_tables(positions: torch.Tensor, dim: int, theta: float,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, dim] for the rotate-half convention (Llama / Hugging Face), in fp32 like them
    (fp64 for fp64 models)."""
    dtype = torch.promote_types(dtype, torch.float32)
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=dtype, device=positions.device) / dim)
    angles = positions.to(dtype)[:, None] * inv_freq[None, :]  # [T, dim/2]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, D] rotated by position; cos/sin [T, D]."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos.to(x.dtype) + rotated * sin.to(x.dtype))


class CausalConv(nn.Module):
    """Depthwise causal convolution over time (width 4 in Titans/Hope); the last width−1 inputs are
    carried as decode state so token-by-token decoding equals the full-sequence call."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.zeros(dim, width))
        with torch.no_grad():
            self.weight[:, -1] = 1.0  # starts as the identity on the current token

    def forward(self, x: torch.Tensor, history: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, D], history [B, width−1, D] or None (zeros) -> (y [B, T, D], new history)."""
        B, T, D = x.shape
        if history is None:
            history = x.new_zeros(B, self.width - 1, D)
        padded = torch.cat([history, x], dim=1)  # [B, width−1+T, D]
        # A weighted sum of width shifted views: depthwise conv1d is very slow on CPU for short T.
        y = sum(padded[:, j:j + T] * self.weight[:, j] for j in range(self.width))
        return y, padded[:, padded.shape[1] - (self.width - 1):]


class SwiGLU(nn.Module):
    """A SwiGLU MLP whose weights may carry a per-sequence delta from θ₀ (the CMS user state)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.empty(hidden, dim))
        self.up = nn.Parameter(torch.empty(hidden, dim))
        self.down = nn.Parameter(torch.empty(dim, hidden))
        for w in (self.gate, self.up, self.down):
            nn.init.normal_(w, std=0.02)

    def forward(self, x: torch.Tensor, delta: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """x [B, T, D]; delta maps 'gate', 'up', 'down' to [B, *weight shape] (None: θ₀ alone)."""
        if delta is None:
            return F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)
        gate, up, down = (getattr(self, n) + delta[n] for n in ("gate", "up", "down"))
        h = F.silu(torch.einsum("btd,bhd->bth", x, gate)) * torch.einsum("btd,bhd->bth", x, up)
        return torch.einsum("bth,bdh->btd", h, down)
