"""Train a Hope model (hope-spec §4): ``python -m personal_nl.train --preset tiny --steps 200``.

AdamW with warmup + cosine and clipping, multi-rate CMS levels (``personal_nl.optim``), online CMS
levels learning while they read (``personal_nl.learn``, reset to θ₀ for every batch row), periodic
held-out evaluation, and checkpoints that resume bit for bit: the weights go through
``personal_nl.checkpoint``; optimizer state, slow-level gradients and the RNG go to ``trainer.pt``
beside them, and step, history and data position to ``extra.json``. Batches are functions of
(seed, index), so a resumed run reads exactly what the uninterrupted one would have. Runs under
``torchrun`` with DDP or FSDP (``personal_nl.distributed``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from personal_nl import distributed, learn
from personal_nl.checkpoint import EXTRA, load_checkpoint, save_checkpoint
from personal_nl.config import PRESETS, HopeConfig, preset
from personal_nl.data import make_task, source_batches
from personal_nl.model import HopeLM
from personal_nl.optim import MultiRateAdamW, lr_scale
from personal_nl.tasks import TASKS, Batch

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer.pt"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    task: str = "text"  # 'text' or a name in personal_nl.tasks.TASKS
    batch_size: int = 8  # global rows per step, split over ranks
    seq_len: int | None = None  # None: 128 for text (≤ max_seq_len), the task's own row length for tasks
    lr: float = 1e-3
    warmup: int | None = None  # None: 10% of the steps, at most 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 0  # 0: evaluate once, at the end
    eval_batches: int = 4
    checkpoint_every: int = 0  # 0: only at the end (when an output directory is given)
    seed: int = 0
    online_cms: bool | None = None  # None: on when the model has online CMS levels with lr > 0
    parallel: distributed.Parallel = "ddp"
    corpora: tuple[str, ...] | None = None  # text only; None: every installed corpus

    def __post_init__(self) -> None:
        if self.task != "text" and self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose from text, {', '.join(TASKS)}")
        for name in ("steps", "batch_size", "eval_batches"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.eval_every < 0 or self.checkpoint_every < 0:
            raise ValueError(f"eval_every and checkpoint_every must be ≥ 0, got {self.eval_every}, "
                             f"{self.checkpoint_every}")
        if self.parallel not in ("ddp", "fsdp"):
            raise ValueError(f"parallel must be 'ddp' or 'fsdp', got {self.parallel!r}")

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(100, max(1, self.steps // 10))

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        if data.get("corpora") is not None:
            data["corpora"] = tuple(data["corpora"])
        return cls(**data)


@dataclass
class TrainResult:
    model: HopeLM
    losses: list[float]  # one per optimizer step since step 0 (a resumed run includes its history)
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out loss)
    tokens: int = 0  # tokens trained on in this call
    wall_s: float = 0.0  # the whole call, evaluation and checkpoints included
    train_s: float = 0.0  # inside optimizer steps only (data, forward, backward, update)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_s if self.train_s > 0 else 0.0


class Objective(nn.Module):
    """The loss one step optimizes, as a module, so DDP/FSDP wrap exactly what runs: the plain
    forward, or the online forward in which tier-B CMS levels learn while reading (from θ₀)."""

    def __init__(self, model: HopeLM, online: bool) -> None:
        super().__init__()
        self.model, self.online = model, online

    def forward(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.online:
            return learn.online_forward(self.model, ids, learn.start(self.model), targets)[1]
        return self.model(ids, None, targets).loss


def _seq_len(tc: TrainConfig, cfg: HopeConfig) -> tuple[int | None, int]:
    """(seq_len to ask the data for, tokens per row)."""
    if tc.task == "text":
        n = tc.seq_len or min(128, cfg.max_seq_len)
        return n, n
    return tc.seq_len, tc.seq_len or make_task(tc.task).length


def evaluate(objective: Objective, tc: TrainConfig, seq_len: int | None, world: distributed.World) -> float:
    """Mean loss on the first ``eval_batches`` held-out batches (the same ones every time)."""
    stream = source_batches(tc.task, tc.batch_size, seq_len, seed=tc.seed, split="eval", corpora=tc.corpora)
    total = 0.0
    # online levels take gradients while reading, so they need autograd even here
    with contextlib.nullcontext() if objective.online else torch.no_grad():
        for _ in range(tc.eval_batches):
            batch = _to(distributed.shard(next(stream), world), world.device)
            total += float(objective(batch.ids, batch.targets).detach())
    return distributed.mean(total / tc.eval_batches)


def _to(batch: Batch, device: torch.device) -> Batch:
    return Batch(*(None if x is None else x.to(device) for x in batch))


def _save(path: Path, objective: Objective, opt: MultiRateAdamW, extra: dict) -> None:
    """Write a resumable checkpoint (collective under FSDP; rank 0 writes)."""
    model = objective.model
    sharded = any(hasattr(p, "device_mesh") for p in model.parameters())  # FSDP: gather an unsharded copy
    full = {k.removeprefix("model."): v for k, v in distributed.model_state(objective).items()} if sharded else None
    optimizers = [distributed.optimizer_state(objective, o) for o in opt.optimizers()]
    pending = opt.pending_grads()
    if distributed.is_main():
        if full is not None:
            model = HopeLM(model.cfg)
            model.load_state_dict(full)
        save_checkpoint(path, model, extra=extra)
        tmp = path / (TRAINER_STATE + ".tmp")
        torch.save({"optimizers": optimizers, "pending": pending, "rng": torch.get_rng_state()}, tmp)
        os.replace(tmp, path / TRAINER_STATE)
    distributed.barrier()


def train(cfg: HopeConfig | None = None, tc: TrainConfig | None = None, *, out: str | Path | None = None,
          resume: str | Path | None = None, on_progress: Progress | None = None,
          world: distributed.World | None = None) -> TrainResult:
    """Train ``cfg`` (or the checkpoint in ``resume``, continuing its run) for ``tc.steps`` optimizer
    steps; checkpoints go to ``out``. ``on_progress(message, step, steps)`` follows every step."""
    world = world or distributed.setup()
    if resume is not None:
        model, extra = load_checkpoint(resume, map_location=world.device, expect=cfg)
        tc = tc or TrainConfig.from_dict(extra["train"])
        start, losses, evals = extra["step"], list(extra["losses"]), [tuple(e) for e in extra["evals"]]
        saved = torch.load(Path(resume) / TRAINER_STATE, map_location="cpu", weights_only=True)
    else:
        if cfg is None or tc is None:
            raise ValueError("train needs a model config and a TrainConfig unless it resumes a checkpoint")
        torch.manual_seed(tc.seed)
        model, start, losses, evals, saved = HopeLM(cfg).to(world.device), 0, [], [], None
    cfg = model.cfg
    online = bool(learn.online_levels(model)) if tc.online_cms is None else tc.online_cms
    if online and tc.parallel == "fsdp" and world.size > 1:
        raise ValueError("online CMS learning reads each segment with its own backward; run it under ddp, not fsdp")
    seq_len, row = _seq_len(tc, cfg)
    objective = Objective(model, online)
    wrapped = distributed.wrap(objective, tc.parallel, blocks=list(model.blocks))
    opt = MultiRateAdamW(model, lr=tc.lr, weight_decay=tc.weight_decay, grad_clip=tc.grad_clip,
                         tokens_per_step=tc.batch_size * row)
    if saved is not None:
        for o, state in zip(opt.optimizers(), saved["optimizers"], strict=True):
            distributed.load_optimizer_state(objective, o, state)
        opt.load_pending_grads(saved["pending"])
        torch.set_rng_state(saved["rng"])
    log.info("train: %d params, task %s, %d×%d tokens/step, steps %d→%d, online CMS %s", model.num_params(),
             tc.task, tc.batch_size, row, start, tc.steps, online)
    stream = source_batches(tc.task, tc.batch_size, seq_len, seed=tc.seed, start=start, corpora=tc.corpora)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    t0, per_step = time.perf_counter(), tc.batch_size * row
    tokens, train_s, since, since_s = 0, 0.0, 0, 0.0  # throughput counts step time only, not eval or saving
    try:
        for step in range(start, tc.steps):
            tic = time.perf_counter()
            batch = _to(distributed.shard(next(stream), world), world.device)
            loss = wrapped(batch.ids, batch.targets)
            loss.backward()
            scale = lr_scale(step, warmup=tc.warmup_steps, total=tc.steps, min_ratio=tc.min_lr_ratio)
            opt.step(step, scale)
            losses.append(distributed.mean(float(loss.detach())))
            elapsed, done = time.perf_counter() - tic, step + 1
            tokens, since, train_s, since_s = tokens + per_step, since + per_step, train_s + elapsed, since_s + elapsed
            last = done == tc.steps
            if (tc.eval_every and done % tc.eval_every == 0) or last:
                evals.append((done, evaluate(objective, tc, seq_len, world)))
            if out is not None and ((tc.checkpoint_every and done % tc.checkpoint_every == 0) or last):
                _save(Path(out), objective, opt, {"step": done, "data_position": done, "train": asdict(tc),
                                                  "losses": losses, "evals": evals})
            if on_progress is not None:
                message = f"loss {losses[-1]:.3f} | {since / max(since_s, 1e-9) / 1e3:.1f}k tok/s | lr " \
                          f"{tc.lr * scale:.1e}"
                if evals and evals[-1][0] == done:
                    message += f" | eval {evals[-1][1]:.3f} (ppl {math.exp(min(evals[-1][1], 50)):.2f})"
                on_progress(message, done, tc.steps)
                since, since_s = 0, 0.0
    finally:
        torch.use_deterministic_algorithms(deterministic)
    wall = time.perf_counter() - t0
    log.info("train done: %d steps, %.1f s, %.0f tok/s, loss %.3f", tc.steps - start, wall,
             tokens / max(train_s, 1e-9), losses[-1] if losses else float("nan"))
    return TrainResult(model, losses, evals, tokens, wall, train_s)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m personal_nl.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="model size (default tiny; from the checkpoint "
                   "with --resume)")
    p.add_argument("--mixer", choices=("titans", "attention", "hybrid"), help="override every layer's mixer")
    p.add_argument("--task", choices=("text", *TASKS), help="training data (default text)")
    p.add_argument("--steps", type=int, help="total optimizer steps (default 200)")
    p.add_argument("--out", help="checkpoint directory (default with --resume: the resumed one)")
    p.add_argument("--resume", help="checkpoint directory to continue from (its settings unless overridden)")
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=int, help="global batch rows per step")
    p.add_argument("--seq-len", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--warmup", type=int)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--eval-batches", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--online-cms", action=argparse.BooleanOptionalAction,
                   help="train online CMS levels through online learning (default: when the model has any)")
    p.add_argument("--parallel", choices=("ddp", "fsdp"), help="under torchrun (default ddp)")
    p.add_argument("--corpus", action="append", dest="corpora", help="text corpus (repeatable; default all)")
    p.add_argument("--log-every", type=int, default=10, help="print every N steps")
    p.add_argument("--device", help="cpu or cuda (default cuda when available)")
    return p


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("steps", "task", "batch_size", "seq_len", "lr", "warmup",
                                               "eval_every", "eval_batches", "checkpoint_every", "seed",
                                               "online_cms", "parallel") if getattr(args, k) is not None}
    if args.corpora:
        overrides["corpora"] = tuple(args.corpora)
    cfg = preset(args.preset or "tiny") if args.resume is None or args.preset else None
    if args.mixer:
        if cfg is None:
            parser.error("--mixer needs --preset when resuming")
        cfg = replace(cfg, mixers=(args.mixer,) * cfg.n_layers)
    tc = None
    if args.resume is None:
        tc = TrainConfig(**overrides)
    elif overrides:
        saved = json.loads((Path(args.resume) / EXTRA).read_text())["train"]
        tc = replace(TrainConfig.from_dict(saved), **overrides)
    world = distributed.setup(args.device)

    def show(message: str, step: int, steps: int) -> None:
        if distributed.is_main() and (step % args.log_every == 0 or step == steps or "eval" in message):
            print(f"step {step}/{steps} | {message}", flush=True)

    try:
        out = args.out or args.resume  # a resumed run keeps checkpointing where it came from
        result = train(cfg, tc, out=out, resume=args.resume, on_progress=show, world=world)
        if distributed.is_main():
            print(f"done: {len(result.losses)} steps | {result.tokens_per_s / 1e3:.1f}k tok/s | "
                  f"{result.wall_s:.1f} s" + (f" | checkpoint {out}" if out else ""), flush=True)
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main()
