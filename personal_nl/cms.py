"""The Continuum Memory System (hope-spec §3): a chain of pre-norm residual SwiGLU levels per block.

A level's weights are θ₀ (parameters) plus an optional per-sequence delta, the user state that
online learning writes (``personal_nl.learn``); with no delta the level is exactly its θ₀ MLP, so
a converted model with every CMS learning rate at 0 reproduces the original.
"""

from __future__ import annotations

import torch
from torch import nn

from personal_nl.config import CMSLevel
from personal_nl.layers import RMSNorm, SwiGLU

Delta = dict[str, torch.Tensor]  # 'gate' | 'up' | 'down' -> [B, *weight shape]
DELTA_NAMES = ("gate", "up", "down")


class Level(nn.Module):
    def __init__(self, dim: int, level: CMSLevel, eps: float) -> None:
        super().__init__()
        self.spec = level
        self.norm = RMSNorm(dim, eps)
        self.mlp = SwiGLU(dim, level.hidden)

    def forward(self, x: torch.Tensor, delta: Delta | None) -> torch.Tensor:
        return x + self.mlp(self.norm(x), delta)

    def weights(self) -> dict[str, nn.Parameter]:
        """The parameters online learning moves (norms stay at θ₀)."""
        return {name: getattr(self.mlp, name) for name in DELTA_NAMES}


class CMS(nn.Module):
    """Levels applied in order (high → low frequency), each around its own residual."""

    def __init__(self, dim: int, levels: tuple[CMSLevel, ...], eps: float) -> None:
        super().__init__()
        self.levels = nn.ModuleList(Level(dim, lvl, eps) for lvl in levels)

    def forward(self, x: torch.Tensor, deltas: tuple[Delta | None, ...]) -> torch.Tensor:
        for level, delta in zip(self.levels, deltas, strict=True):
            x = level(x, delta)
        return x
