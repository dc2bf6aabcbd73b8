"""The outer optimizer (hope-spec §4) with multi-rate CMS levels (§3, tier C).

AdamW with weight decay on matrices only, linear warmup then cosine decay, gradient clipping. A CMS
level with ``online=False`` is a cross-step level: its parameters sit in an optimizer of their own
whose gradients keep accumulating across optimizer steps and which steps only once every
``max(1, period // tokens_per_step)`` steps, at the level's own learning rate (θ ← θ − η Σ_chunk ∇L,
through AdamW). A level with lr 0 is frozen at θ₀. Online levels (tier B) learn inside the forward
pass (``personal_nl.learn``); their θ₀ is trained here like any other weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from personal_nl.distributed import full_tensor, like
from personal_nl.model import HopeLM


def lr_scale(step: int, *, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Multiplier of the peak learning rate for optimizer step ``step`` (0-based): linear warmup over
    ``warmup`` steps, then cosine down to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _groups(named: list[tuple[str, nn.Parameter]], lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices (and stacked memory states), never gains and biases."""
    decay = [p for _, p in named if p.dim() >= 2]
    keep = [p for _, p in named if p.dim() < 2]
    return [g for g in ({"params": decay, "weight_decay": weight_decay, "lr": lr},
                        {"params": keep, "weight_decay": 0.0, "lr": lr}) if g["params"]]


@dataclass
class _Slow:
    """A set of cross-step CMS levels sharing (period, lr): their optimizer and cadence."""

    every: int
    peak_lr: float
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer


class MultiRateAdamW:
    """AdamW for the model, with tier-C CMS levels stepped on their own, slower cadence."""

    def __init__(self, model: HopeLM, *, lr: float, weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.95),
                 grad_clip: float = 1.0, tokens_per_step: int) -> None:
        if lr <= 0 or tokens_per_step <= 0 or grad_clip <= 0:
            raise ValueError(f"lr, tokens_per_step and grad_clip must be positive, got {lr}, {tokens_per_step}, "
                             f"{grad_clip}")
        self.peak_lr, self.grad_clip = lr, grad_clip
        slow_ids: dict[int, tuple[int, float]] = {}
        self.frozen: list[nn.Parameter] = []
        for block in model.blocks:
            for level in block.cms.levels:
                if level.spec.online:
                    continue
                for p in level.parameters():
                    if level.spec.lr == 0:
                        self.frozen.append(p)
                    slow_ids[id(p)] = (max(1, level.spec.period // tokens_per_step), level.spec.lr)
        named = list(model.named_parameters())
        self.main_params = [p for _, p in named if id(p) not in slow_ids]
        self.main = torch.optim.AdamW(_groups([(n, p) for n, p in named if id(p) not in slow_ids], lr, weight_decay),
                                      lr=lr, betas=betas, foreach=True)
        self.slow: list[_Slow] = []
        for every, level_lr in sorted({v for v in slow_ids.values() if v[1] > 0}):
            mine = [(n, p) for n, p in named if slow_ids.get(id(p)) == (every, level_lr)]
            opt = torch.optim.AdamW(_groups(mine, level_lr, weight_decay), lr=level_lr, betas=betas, foreach=True)
            self.slow.append(_Slow(every, level_lr, [p for _, p in mine], opt))

    def step(self, step: int, scale: float) -> float:
        """Optimizer step ``step`` (0-based) at ``scale`` × each peak lr; returns the main grad norm.

        Main parameters are clipped and stepped every call; a slow level's accumulated gradient is
        clipped and applied when ``step + 1`` is a multiple of its cadence, then cleared."""
        norm = torch.nn.utils.clip_grad_norm_(self.main_params, self.grad_clip)
        for group in self.main.param_groups:
            group["lr"] = self.peak_lr * scale
        self.main.step()
        self.main.zero_grad(set_to_none=True)
        for slow in self.slow:
            if (step + 1) % slow.every == 0:
                torch.nn.utils.clip_grad_norm_(slow.params, self.grad_clip)
                for group in slow.optimizer.param_groups:
                    group["lr"] = slow.peak_lr * scale
                slow.optimizer.step()
                slow.optimizer.zero_grad(set_to_none=True)
        for p in self.frozen:
            p.grad = None
        return float(full_tensor(norm))

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.main, *(s.optimizer for s in self.slow)]

    def pending_grads(self) -> list[list[torch.Tensor | None]]:
        """Gradients the slow levels have accumulated but not yet applied (part of a resumable state)."""
        return [[None if p.grad is None else full_tensor(p.grad.detach()).clone() for p in s.params]
                for s in self.slow]

    def load_pending_grads(self, pending: list[list[torch.Tensor | None]]) -> None:
        if len(pending) != len(self.slow) or any(len(g) != len(s.params) for g, s in zip(pending, self.slow)):
            raise ValueError("saved slow-level gradients don't match this model's tier-C CMS levels")
        for slow, grads in zip(self.slow, pending):
            for p, g in zip(slow.params, grads):
                p.grad = None if g is None else like(g, p)
