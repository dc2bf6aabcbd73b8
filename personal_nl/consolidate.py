"""The slow level: low-rank factors on chosen layers' CMS weights, trained while the model sleeps.

Sleep (design.md) turns what a user said into weights that answer questions about it later. Each
chosen CMS level of each chosen block gets factors U [out, r] and V [r, in] per weight, and its
delta from θ₀ is U @ V. ``consolidate`` trains them on rehearsal examples (cross-entropy on the
tokens a mask selects, the model *without* its wake deltas, which are reset after sleep) plus a
replay term that keeps general ability: KL(base ‖ model) on the replay sequences, where the base is
θ₀ alone. Optionally it distils the model with its wake deltas into the factors.

Everything is a function of (model, factors, examples, replay, config, seed): a fresh optimizer, a
seeded order and a fixed batching give bit-identical factors on the same machine, which is what
lets a forget be checked by recomputation.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call

from personal_nl.cms import DELTA_NAMES
from personal_nl.layers import at_least_fp32
from personal_nl.model import HopeLM
from personal_nl.user_state import Deltas

log = logging.getLogger(__name__)

Factors = dict[str, torch.Tensor]  # "blocks.{b}.cms.{i}.{name}.u" [out, r] and ".v" [r, in]


@dataclass(frozen=True)
class SleepConfig:
    """How sleep trains the slow level. Defaults suit the tiny test models; the default model's
    values are ``personal_nl.default_model.SLEEP``."""

    layers: tuple[int, ...] | None = None  # blocks whose CMS levels get factors; None = every block
    rank: int = 4
    lr: float = 1e-2  # AdamW
    epochs: int = 3
    batch_size: int = 8  # examples per step
    replay_weight: float = 1.0  # weight of KL(base ‖ model) on replay text
    replay_batch: int = 1  # replay sequences per step
    replay_tokens: int = 256  # replay sequences are cut to this many tokens
    replay_positions: int = 64  # positions of a replay sequence whose predictions each step compares
    distill_weight: float = 0.0  # weight of KL(model with wake deltas ‖ model) on the examples
    max_tokens: int = 512  # examples are cut to this many tokens
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max global norm of the factors' gradient (0: no clipping)
    init_scale: float = 1.0  # V starts at init_scale · N(0, 1/in); U starts at 0, so U @ V = 0
    deep_after: int = 8  # a sleep is deep (retrains on everything held) once this many episodes came since the last

    def __post_init__(self) -> None:
        if self.rank <= 0 or self.epochs < 0 or self.batch_size <= 0 or self.replay_batch <= 0 or self.deep_after <= 0:
            raise ValueError("need rank > 0, epochs ≥ 0, batch_size > 0, replay_batch > 0 and deep_after > 0, "
                             f"got {self}")
        if self.lr < 0 or self.replay_weight < 0 or self.distill_weight < 0 or self.grad_clip < 0:
            raise ValueError(f"lr, replay_weight, distill_weight and grad_clip must be ≥ 0, got {self}")
        if self.max_tokens < 2 or self.replay_tokens < 2 or self.replay_positions < 1:
            raise ValueError(f"need max_tokens ≥ 2, replay_tokens ≥ 2 and replay_positions ≥ 1, got {self}")


@dataclass(frozen=True)
class Example:
    """One rehearsal sequence. ``mask[t]`` says whether predicting ``ids[t]`` (from ids[:t]) counts
    in the loss; ``mask[0]`` is ignored, since nothing predicts the first token."""

    ids: tuple[int, ...]
    mask: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.mask):
            raise ValueError(f"an example needs one mask entry per id, got {len(self.ids)} ids and "
                             f"{len(self.mask)} mask entries")


def _key(block: int, level: int, name: str) -> str:
    return f"blocks.{block}.cms.{level}.{name}"


def _layers(model: HopeLM, config: SleepConfig) -> tuple[int, ...]:
    n = model.cfg.n_layers
    layers = tuple(range(n)) if config.layers is None else tuple(sorted(set(config.layers)))
    bad = [b for b in layers if not 0 <= b < n]
    if bad:
        raise ValueError(f"sleep layer {bad[0]} does not exist; the model has {n} layers")
    return layers


def init_factors(model: HopeLM, config: SleepConfig, seed: int) -> Factors:
    """Factors for every CMS level of the chosen blocks: U = 0 and V seeded, so ``expand`` of the
    result is exactly zero (a user who never slept has the base model)."""
    gen = torch.Generator().manual_seed(seed)
    factors: Factors = {}
    for b in _layers(model, config):
        for i, level in enumerate(model.blocks[b].cms.levels):
            for name, weight in level.weights().items():
                out_dim, in_dim = weight.shape
                v = torch.randn(config.rank, in_dim, generator=gen, dtype=torch.float32) * (
                    config.init_scale / math.sqrt(in_dim))
                factors[_key(b, i, name) + ".u"] = torch.zeros(out_dim, config.rank, dtype=weight.dtype,
                                                               device=weight.device)
                factors[_key(b, i, name) + ".v"] = v.to(dtype=weight.dtype, device=weight.device)
    return factors


def factor_pairs(model: HopeLM, factors: Factors) -> dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]]:
    """(block, level, name) -> (U, V), refusing factors that don't fit the model."""
    pairs = {}
    for key in factors:
        parts = key.split(".")
        if len(parts) != 6 or parts[0] != "blocks" or parts[2] != "cms" or parts[5] not in ("u", "v") \
                or parts[4] not in DELTA_NAMES or not parts[1].isdigit() or not parts[3].isdigit():
            raise ValueError(f"factor key {key!r} is not 'blocks.B.cms.I.(gate|up|down).(u|v)'")
        b, i, name = int(parts[1]), int(parts[3]), parts[4]
        if (b, i, name) in pairs:
            continue
        if b >= model.cfg.n_layers or i >= len(model.blocks[b].cms.levels):
            raise ValueError(f"factor {key!r} names a CMS level this model doesn't have")
        stem = _key(b, i, name)
        if stem + ".u" not in factors or stem + ".v" not in factors:
            raise ValueError(f"factor {stem!r} needs both .u and .v")
        u, v = factors[stem + ".u"], factors[stem + ".v"]
        want = tuple(model.blocks[b].cms.levels[i].weights()[name].shape)
        if u.dim() != 2 or v.dim() != 2 or (u.shape[0], v.shape[1]) != want or u.shape[1] != v.shape[0]:
            raise ValueError(f"factor {stem!r} has U {list(u.shape)} and V {list(v.shape)}; "
                             f"U @ V must be {list(want)}")
        pairs[(b, i, name)] = (u, v)
    return pairs


def expand(model: HopeLM, factors: Factors, deltas: Deltas | None = None) -> Deltas:
    """``deltas`` (None or all-None: no deltas) plus U @ V on every factored level, batch dim 1."""
    pairs = factor_pairs(model, factors)
    out = []
    for b, block in enumerate(model.blocks):
        levels = []
        for i, _ in enumerate(block.cms.levels):
            delta = deltas[b][i] if deltas is not None else None
            if any((b, i, n) in pairs for n in DELTA_NAMES):
                weights = block.cms.levels[i].weights()
                low = {n: (pairs[(b, i, n)][0] @ pairs[(b, i, n)][1])[None] if (b, i, n) in pairs
                       else torch.zeros(1, *weights[n].shape, dtype=weights[n].dtype, device=weights[n].device)
                       for n in DELTA_NAMES}
                delta = low if delta is None else {n: delta[n] + low[n] for n in DELTA_NAMES}
            levels.append(delta)
        out.append(tuple(levels))
    return tuple(out)


# -- training ----------------------------------------------------------------------------------------

def _pad(seqs: Sequence[Sequence[int]], masks: Sequence[Sequence[bool]], device: torch.device
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and target mask [B, T] (padding never counts; causal attention never
    lets a real token see it)."""
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long, device=device)
    mask = torch.zeros(len(seqs), T, dtype=torch.bool, device=device)
    for row, (s, m) in enumerate(zip(seqs, masks, strict=True)):
        ids[row, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[row, :len(m)] = torch.tensor(list(m), dtype=torch.bool)
    return ids, mask


class _Runner:
    """Runs the model from the first factored block on, with θ₀ + U @ V in place of the factored
    weights. Blocks before it are the same for every step, so their output is computed once."""

    def __init__(self, model: HopeLM, first: int) -> None:
        self.model = model
        self.first = first

    @torch.no_grad()
    def prefix(self, ids: torch.Tensor) -> torch.Tensor:
        """Hidden states [B, T, D] entering the first factored block (nothing learned before it)."""
        x = self.model.embed(ids)
        for block in self.model.blocks[:self.first]:
            x, _ = block(x, None, (None,) * len(block.cms.levels), 0)
        return x

    def logits(self, x: torch.Tensor, pairs, wake: Deltas | None = None) -> torch.Tensor:
        """Logits [B, T, V] from prefix hidden states; ``wake`` adds deltas (batch 1) on top."""
        return self.model.head(self.features(x, pairs, wake))

    def features(self, x: torch.Tensor, pairs, wake: Deltas | None = None) -> torch.Tensor:
        """The final normed hidden states [B, T, D] the head reads."""
        for b in range(self.first, self.model.cfg.n_layers):
            block = self.model.blocks[b]
            overrides = {}
            for i, level in enumerate(block.cms.levels):
                weights = level.weights()
                for n in DELTA_NAMES:
                    w = weights[n]
                    if (b, i, n) in pairs:
                        u, v = pairs[(b, i, n)]
                        w = w + u @ v
                    if wake is not None and wake[b][i] is not None:
                        w = w + wake[b][i][n][0]
                    if w is not weights[n]:
                        overrides[f"cms.levels.{i}.mlp.{n}"] = w
            n_levels = len(block.cms.levels)
            if overrides:
                x, _ = functional_call(block, overrides, (x, None, (None,) * n_levels, 0))
            else:
                x, _ = block(x, None, (None,) * n_levels, 0)
        return self.model.norm(x)


def _kl(teacher_logp: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over positions of KL(teacher ‖ student); teacher log-probs and student logits [N, V]."""
    student = F.log_softmax(at_least_fp32(student_logits), dim=-1)
    return (teacher_logp.exp() * (teacher_logp - student)).sum(-1).mean()


def consolidate(model: HopeLM, factors: Factors, examples: Sequence[Example], replay: Sequence[Sequence[int]],
                config: SleepConfig, *, seed: int, wake: Deltas | None = None,
                on_progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> Factors | None:
    """Factors trained on ``examples`` (masked next-token CE, model without wake deltas) plus
    ``config.replay_weight`` · KL(θ₀ ‖ model) on ``replay`` (``replay_positions`` seeded positions
    of ``replay_batch`` sequences per step) and, if ``wake`` is given and ``config.distill_weight``
    > 0, that weight · KL(model with wake ‖ model) on the examples' counted positions.
    Returns new tensors (the inputs are never changed), or None if ``should_stop`` said so
    between two steps. Progress is (steps done, steps in all)."""
    pairs_in = factor_pairs(model, factors)
    layers = sorted({b for b, _, _ in pairs_in})
    examples = [e for e in examples if len(e.ids) >= 2 and any(e.mask[1:])]
    replay = [list(r)[:config.replay_tokens] for r in replay if len(r) >= 2]
    params = {k: t.detach().clone().requires_grad_(True) for k, t in sorted(factors.items())}
    steps_per_epoch = math.ceil(len(examples) / config.batch_size) if examples else 0
    total = steps_per_epoch * config.epochs
    if on_progress is not None:
        on_progress(0, total)
    if total == 0 or not pairs_in:
        return None if should_stop is not None and should_stop() else {k: p.detach() for k, p in params.items()}

    device = model.embed.weight.device
    use_wake = wake is not None and config.distill_weight > 0 and any(d is not None for lv in wake for d in lv)
    first = min(layers + ([b for b, lv in enumerate(wake) if any(d is not None for d in lv)] if use_wake else []))
    runner = _Runner(model, first)
    started = time.perf_counter()
    # The blocks before the first trained (or wake) block and the base model's replay predictions never
    # change: computed once. The base's final features are kept rather than its logits (D ≪ vocab).
    cut = [(list(e.ids)[:config.max_tokens], list(e.mask)[:config.max_tokens]) for e in examples]
    with torch.no_grad():
        replay_in = [runner.prefix(torch.tensor([r], device=device)) for r in replay] \
            if config.replay_weight > 0 else []
        replay_base = [runner.features(x, {}) for x in replay_in]
    wake_start = factor_pairs(model, {k: p.detach().clone() for k, p in params.items()}) if use_wake else {}

    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(list(params.values()), lr=config.lr, weight_decay=config.weight_decay,
                                  betas=(0.9, 0.999), eps=1e-8)
    step, replay_order, replay_at = 0, [], 0
    losses = []
    for epoch in range(config.epochs):
        order = torch.randperm(len(cut), generator=gen).tolist()
        for start in range(0, len(order), config.batch_size):
            if should_stop is not None and should_stop():
                log.info("sleep stopped at step %d of %d", step, total)
                return None
            batch = [cut[j] for j in order[start:start + config.batch_size]]
            ids, mask = _pad([s for s, _ in batch], [m for _, m in batch], device)
            target_mask = mask[:, 1:]  # [B, T−1]
            pairs = factor_pairs(model, params)
            x = runner.prefix(ids)
            # The head (vocab ≫ width) is applied only where a target counts: most tokens are prompt.
            features = runner.features(x, pairs)[:, :-1][target_mask]  # [N, D]
            logits = model.head(features)  # [N, V]
            loss = F.cross_entropy(at_least_fp32(logits), ids[:, 1:][target_mask])
            ce_value = loss.item()
            if use_wake:
                with torch.no_grad():
                    teacher = runner.features(x, wake_start, wake)[:, :-1][target_mask]
                    teacher = F.log_softmax(at_least_fp32(model.head(teacher)), dim=-1)
                loss = loss + config.distill_weight * _kl(teacher, logits)
            if replay_in:
                for _ in range(config.replay_batch):
                    if replay_at == len(replay_order):  # a new seeded pass over the replay set
                        replay_order, replay_at = torch.randperm(len(replay), generator=gen).tolist(), 0
                    r = replay_order[replay_at]
                    replay_at += 1
                    T = replay_in[r].shape[1]
                    at = torch.randperm(T, generator=gen)[:config.replay_positions].sort().values.to(device)
                    with torch.no_grad():
                        teacher = F.log_softmax(at_least_fp32(model.head(replay_base[r][0, at])), dim=-1)
                    student = model.head(runner.features(replay_in[r], pairs)[0, at])
                    loss = loss + config.replay_weight / config.replay_batch * _kl(teacher, student)
            names = list(params)
            grads = torch.autograd.grad(loss, [params[k] for k in names])
            for k, g in zip(names, grads, strict=True):
                params[k].grad = g
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(list(params.values()), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(ce_value)
            if on_progress is not None:
                on_progress(step, total)
        log.debug("sleep epoch %d/%d: example loss %.3f", epoch + 1, config.epochs,
                  sum(losses[-steps_per_epoch:]) / steps_per_epoch)
    log.info("sleep consolidated %d examples, %d replay sequences in %d steps, %.1f s", len(examples),
             len(replay), total, time.perf_counter() - started)
    return {k: p.detach() for k, p in params.items()}
