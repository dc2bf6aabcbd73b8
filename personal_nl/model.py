"""HopeLM: embedding, blocks of (mixer, CMS), final norm and a tied head (hope-spec §1).

``forward(ids, state, targets)`` returns a new ``State`` and never mutates the one it was given:
the recurrent fast weights, the KV cache and the CMS deltas are values, so a caller can replay a
log and compare states (design.md, "the log is the truth").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from personal_nl.attention import Attention
from personal_nl.cms import CMS, Delta
from personal_nl.config import HopeConfig
from personal_nl.layers import RMSNorm, at_least_fp32
from personal_nl.titans import SelfModifyingTitans


class State(NamedTuple):
    position: int  # tokens already read
    mixers: tuple[Any, ...]  # per layer: KVCache | TitansState | (KVCache, TitansState) | None
    cms: tuple[tuple[Delta | None, ...], ...]  # per layer, per level: delta from θ₀ or None


class Output(NamedTuple):
    logits: torch.Tensor  # [B, T, vocab]
    loss: torch.Tensor | None
    state: State


class Hybrid(nn.Module):
    """Attention and a Titans memory side by side, the memory's share gated per channel."""

    def __init__(self, cfg: HopeConfig) -> None:
        super().__init__()
        self.attention = Attention(cfg)
        self.titans = SelfModifyingTitans(cfg)
        self.gate = nn.Linear(cfg.d_model, cfg.d_model)
        nn.init.zeros_(self.gate.weight)

    def forward(self, x, state, position):
        kv, fast = state if state is not None else (None, None)
        a, kv = self.attention(x, kv, position)
        m, fast = self.titans(x, fast, position)
        return a + torch.sigmoid(self.gate(x)) * m, (kv, fast)


class Block(nn.Module):
    def __init__(self, cfg: HopeConfig, layer: int) -> None:
        super().__init__()
        kind = cfg.mixers[layer]
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = {"attention": Attention, "titans": SelfModifyingTitans, "hybrid": Hybrid}[kind](cfg)
        self.cms = CMS(cfg.d_model, cfg.cms[layer], cfg.norm_eps)

    def forward(self, x, mixer_state, deltas, position):
        y, mixer_state = self.mixer(self.norm(x), mixer_state, position)
        return self.cms(x + y, deltas), mixer_state


class HopeLM(nn.Module):
    def __init__(self, cfg: HopeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.weight
        else:
            nn.init.normal_(self.head.weight, std=0.02)
        self._has_attention = any(m in ("attention", "hybrid") for m in cfg.mixers)

    def initial_state(self) -> State:
        """The state before any token: empty caches, fast weights at θ₀ (built lazily), no deltas."""
        return State(0, (None,) * self.cfg.n_layers, tuple((None,) * len(b.cms.levels) for b in self.blocks))

    def forward(self, ids: torch.Tensor, state: State | None = None, targets: torch.Tensor | None = None) -> Output:
        """ids [B, T] -> logits [B, T, vocab]; with targets [B, T] (−100 ignored) also the mean loss."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be [B, T], got shape {list(ids.shape)}")
        state = state or self.initial_state()
        B, T = ids.shape
        if self._has_attention and state.position + T > self.cfg.max_seq_len:
            raise ValueError(f"{state.position + T} tokens exceed max_seq_len {self.cfg.max_seq_len}; "
                             "truncate the context before calling the model")
        x = self.embed(ids)
        mixers = []
        for block, mixer_state, deltas in zip(self.blocks, state.mixers, state.cms, strict=True):
            x, mixer_state = block(x, mixer_state, deltas, state.position)
            mixers.append(mixer_state)
        logits = self.head(self.norm(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(at_least_fp32(logits).reshape(B * T, -1), targets.reshape(B * T), ignore_index=-100)
        return Output(logits, loss, State(state.position + T, tuple(mixers), state.cms))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def with_config(self, cfg: HopeConfig) -> HopeLM:
        """The same weights (shared, not copied) under another config of identical shapes, e.g. with
        other CMS periods and learning rates."""
        return from_state_dict(cfg, self.state_dict())


def from_state_dict(cfg: HopeConfig, state: dict[str, torch.Tensor]) -> HopeLM:
    """A model holding exactly these tensors, built without initialising anything first."""
    with torch.device("meta"):
        model = HopeLM(cfg)
    expected = {k for k in model.state_dict() if not (cfg.tie_embeddings and k == "head.weight")}
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(f"no tensor for {missing[0]!r} ({len(missing)} missing)")
    model.load_state_dict({k: state[k] for k in expected}, strict=False, assign=True)
    if cfg.tie_embeddings:  # assigning replaced the shared parameter; share the loaded one again
        model.head.weight = model.embed.weight
    return model
