"""Online CMS learning (hope-spec §3, tier B; tier A as an oracle): the model learns from text it reads.

Level ℓ of a block takes one step every ``period`` tokens, θ_ℓ ← θ_ℓ − lr_ℓ · Σ ∇L, summed over the
next-token losses of the finished chunk and taken at the weights the chunk was read with. What the
steps change is held as per-sequence deltas from θ₀ inside the model ``State`` (the user state).

Text is cut into segments of G = gcd of the online periods; a finished segment's gradient is added
to every online level's pending sum, and a level whose period divides the position applies and
clears its sum. A segment fed in several calls is recomputed from the state where it began, so
learning from a stream in any split gives the same deltas as learning from it whole.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from personal_nl.cms import DELTA_NAMES, Delta
from personal_nl.layers import at_least_fp32
from personal_nl.model import HopeLM, State

LevelKey = tuple[int, int]  # (block, level)


class LearnState(NamedTuple):
    model: State
    pending: dict[LevelKey, Delta]  # gradient sums not yet applied
    segment_ids: torch.Tensor | None  # [B, n] ids of the unfinished segment
    segment_start: State | None  # model state where that segment began
    segment_mask: torch.Tensor | None = None  # [B, n] which of its tokens count in the loss (None: all)


def online_levels(model: HopeLM) -> dict[LevelKey, tuple[int, float]]:
    """(block, level) -> (period, lr) for every level that learns while reading."""
    return {(b, i): (lvl.spec.period, lvl.spec.lr)
            for b, block in enumerate(model.blocks) for i, lvl in enumerate(block.cms.levels)
            if lvl.spec.online and lvl.spec.lr > 0}


def segment_length(model: HopeLM) -> int | None:
    periods = [p for p, _ in online_levels(model).values()]
    return math.gcd(*periods) if periods else None


def start(model: HopeLM, state: State | None = None) -> LearnState:
    return LearnState(state or model.initial_state(), {}, None, None)


def _fresh_deltas(model: HopeLM, state: State, batch: int, like: torch.Tensor, *, differentiable: bool) -> State:
    """Give every learning level a delta tensor of its own for the segment about to be read, so a
    segment's gradient counts only its own use of the weights (zeros where a level has none yet).
    Tier B cuts the graph here; tier A keeps it and only starts a new node."""
    cms = [list(levels) for levels in state.cms]
    for b, i in online_levels(model):
        delta = cms[b][i]
        if delta is None:
            weights = model.blocks[b].cms.levels[i].weights()
            delta = {n: torch.zeros(batch, *w.shape, dtype=like.dtype, device=like.device) for n, w in weights.items()}
        cms[b][i] = {n: d.clone() if differentiable and d.requires_grad else d.detach().requires_grad_()
                     for n, d in delta.items()}
    return state._replace(cms=tuple(tuple(levels) for levels in cms))


def _segment_gradients(model: HopeLM, ids: torch.Tensor, begin: State, logits: torch.Tensor | None,
                       *, differentiable: bool, mask: torch.Tensor | None = None) -> dict[LevelKey, Delta]:
    """∇ of the segment's summed next-token loss w.r.t. every learning level's delta; ``mask`` [B, n]
    says which predicted tokens count (a segment with none counted adds zeros)."""
    keys = list(online_levels(model))
    if mask is not None and not bool(mask[:, 1:].any()):
        return {(b, i): {n: torch.zeros_like(begin.cms[b][i][n]) for n in DELTA_NAMES} for b, i in keys}
    if logits is None:  # the segment arrived in pieces: read it again from where it began
        begin = _fresh_deltas(model, begin, ids.shape[0], model.embed.weight, differentiable=differentiable)
        logits = model(ids, begin).logits
    losses = F.cross_entropy(at_least_fp32(logits[:, :-1]).flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
    if mask is not None:
        losses = losses * mask[:, 1:].flatten().to(losses.dtype)
    loss = losses.sum()
    leaves = [begin.cms[b][i][n] for b, i in keys for n in DELTA_NAMES]
    grads = iter(torch.autograd.grad(loss, leaves, retain_graph=True, create_graph=differentiable,
                                     allow_unused=True))
    return {key: {n: g if g is not None else torch.zeros_like(begin.cms[key[0]][key[1]][n])
                  for n, g in zip(DELTA_NAMES, grads)} for key in keys}


def _apply_due(model: HopeLM, state: State, pending: dict[LevelKey, Delta]) -> State:
    """Levels whose period divides the position take their step and clear their sum."""
    cms = [list(levels) for levels in state.cms]
    for (b, i), (period, rate) in online_levels(model).items():
        if state.position % period == 0 and (b, i) in pending:
            grad = pending.pop((b, i))
            cms[b][i] = {n: cms[b][i][n] - rate * grad[n] for n in DELTA_NAMES}
    return state._replace(cms=tuple(tuple(levels) for levels in cms))


def online_forward(model: HopeLM, ids: torch.Tensor, state: LearnState, targets: torch.Tensor | None = None,
                   *, differentiable: bool = False, loss_mask: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None, LearnState]:
    """Read ids [B, T] while learning; returns logits [B, T, V], the mean loss on ``targets`` if given
    (it trains θ₀; the deltas enter it as constants unless ``differentiable``, the tier-A oracle that
    backpropagates through every online step) and the new state. ``loss_mask`` [B, T] (bool) says
    which tokens the online levels learn to predict: the others are read as context only (a reply
    the model wrote itself, a placeholder). With no learning level this is exactly
    ``model(ids, state.model, targets)``."""
    if loss_mask is not None and tuple(loss_mask.shape) != tuple(ids.shape):
        raise ValueError(f"loss_mask has shape {list(loss_mask.shape)}; ids have {list(ids.shape)}")
    G = segment_length(model)
    if G is None:
        out = model(ids, state.model, targets)
        return out.logits, out.loss, state._replace(model=out.state)
    # Learning needs gradients even when the caller reads under no_grad; tier A differentiates
    # through them, and only the math attention kernel has a double backward.
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH) if differentiable else nullcontext():
        return _read_and_learn(model, ids, state, targets, G, differentiable, loss_mask)


def _read_and_learn(model: HopeLM, ids: torch.Tensor, state: LearnState, targets: torch.Tensor | None,
                    G: int, differentiable: bool, loss_mask: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None, LearnState]:
    T = ids.shape[1]
    current, pending = state.model, dict(state.pending)
    seg_ids, seg_start, seg_mask = state.segment_ids, state.segment_start, state.segment_mask
    masked = loss_mask is not None or seg_mask is not None
    if masked:  # text read without a mask counts whole
        loss_mask = torch.ones_like(ids, dtype=torch.bool) if loss_mask is None else loss_mask.bool()
        if seg_ids is not None and seg_mask is None:
            seg_mask = torch.ones_like(seg_ids, dtype=torch.bool)
    pieces, begin = [], 0
    while begin < T:
        end = min(T, begin + G - current.position % G)
        piece = ids[:, begin:end]
        piece_mask = loss_mask[:, begin:end] if masked else None
        if seg_ids is None:
            current = seg_start = _fresh_deltas(model, current, ids.shape[0], model.embed.weight,
                                                differentiable=differentiable)
        out = model(piece, current)
        pieces.append(out.logits)
        current = out.state
        whole = piece if seg_ids is None else torch.cat([seg_ids, piece], dim=1)
        whole_mask = None if not masked else piece_mask if seg_mask is None else torch.cat([seg_mask, piece_mask], 1)
        if current.position % G == 0:  # the segment is complete: learn from it
            live = out.logits if seg_ids is None else None
            for key, g in _segment_gradients(model, whole, seg_start, live, differentiable=differentiable,
                                             mask=whole_mask).items():
                pending[key] = g if key not in pending else {n: pending[key][n] + g[n] for n in DELTA_NAMES}
            current = _apply_due(model, current, pending)
            seg_ids, seg_start, seg_mask = None, None, None
        else:
            seg_ids, seg_mask = whole, whole_mask
        begin = end
    logits = torch.cat(pieces, dim=1)
    loss = None
    if targets is not None:
        loss = F.cross_entropy(at_least_fp32(logits).flatten(0, 1), targets.flatten(), ignore_index=-100)
    return logits, loss, LearnState(current, pending, seg_ids, seg_start, seg_mask)


def finish(model: HopeLM, state: LearnState) -> LearnState:
    """Close a document: learn from its unfinished segment and apply every level's pending sum, so
    what a short text teaches never waits for text that will not come (the document boundary ends
    every level's chunk). Returns a state at no pending work, its deltas detached."""
    pending = {k: dict(v) for k, v in state.pending.items()}
    current = state.model
    if state.segment_ids is not None and state.segment_ids.shape[1] > 1:
        grads = _segment_gradients(model, state.segment_ids, state.segment_start, None, differentiable=False,
                                   mask=state.segment_mask)
        for key, g in grads.items():
            pending[key] = g if key not in pending else {n: pending[key][n] + g[n] for n in DELTA_NAMES}
    cms = [list(levels) for levels in current.cms]
    for (b, i), (_, rate) in online_levels(model).items():
        if (b, i) in pending:
            base = cms[b][i] if cms[b][i] is not None else {n: torch.zeros_like(g) for n, g in pending[(b, i)].items()}
            cms[b][i] = {n: base[n] - rate * pending[(b, i)][n] for n in DELTA_NAMES}
    current = current._replace(cms=tuple(tuple(levels) for levels in cms))
    return detach(LearnState(current, {}, None, None))


def detach(state: LearnState) -> LearnState:
    """The same state holding no autograd history: what a long-lived session keeps between turns."""
    def cut(x):
        if isinstance(x, torch.Tensor):
            return x.detach()
        if isinstance(x, dict):
            return {k: cut(v) for k, v in x.items()}
        if isinstance(x, tuple) and hasattr(x, "_replace"):
            return type(x)(*(cut(v) for v in x))
        if isinstance(x, (tuple, list)):
            return type(x)(cut(v) for v in x)
        return x
    return cut(state)
