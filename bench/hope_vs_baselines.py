"""Does Hope do what the paper says, at a size this machine can train? (issue 3, hope-spec §8)

    python -m bench.hope_vs_baselines --quick        # 30 steps per task: a smoke run, under 5 minutes
    python -m bench.hope_vs_baselines --steps 100    # medium
    python -m bench.hope_vs_baselines --json out.json  # full: 300 steps per task, under an hour

Hope, Titans (no CMS) and Transformer++ (RoPE, SwiGLU), parameter-matched (``bench._hope_models``),
each trained from the same seed with ``personal_nl.train.train`` on the same batches, lr schedule and
token budget, once per task: multi-query associative recall, three formal languages of Irie et al.
(parity, modular arithmetic, cycle navigation; parity is also scored on strings longer than any seen
in training), two made-up languages taught in context one after the other (CTNL, scored per
language), and byte-level held-out perplexity on the pydoc corpus. Scoring is done here, on a fixed
held-out stream shared by the three models; Hope reads it with its online CMS levels learning, as
it trained.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F

from bench._hope_models import BASELINE, MODELS, build_configs
from bench._report import environment, format_table, print_header, write_json
from personal_nl import learn
from personal_nl.data import source_batches, task_batches
from personal_nl.model import HopeLM
from personal_nl.tasks import IGNORE, Batch, Parity
from personal_nl.train import TrainConfig, train

TASKS = ("mqar", "parity", "modarith", "cycle", "ctnl", "text")
CORPORA = ("pydoc",)
TEXT_SEQ_LEN = 128
LONG_PARITY = Parity(min_len=33, max_len=64)  # training strings have 1…32 bits


@dataclass(frozen=True)
class Budget:
    steps: int  # optimizer steps per model and task
    batch_size: int
    eval_batches: int
    eval_batch_size: int
    lr: float


# lr: best of {1e-3, 3e-3, 1e-2} in one sweep run for all three models alike (100 steps on mqar, parity and
# text; docs/BENCHMARKS.md): 1e-2 gave every model its lowest text perplexity.
QUICK = Budget(steps=30, batch_size=16, eval_batches=4, eval_batch_size=32, lr=1e-2)
FULL = Budget(steps=300, batch_size=16, eval_batches=8, eval_batch_size=32, lr=1e-2)


@dataclass(frozen=True)
class Score:
    """One row's metric: what it measures and its value. For an accuracy (in %), ``chance`` is what
    always giving the eval set's most common answer scores, so a model that learned nothing but
    the answer prior sits at (or, answering a rarer class, below) it."""

    task: str
    metric: str  # 'acc %' or 'ppl'
    value: float
    chance: float | None
    n: int  # scored tokens

    @property
    def margin(self) -> float | None:
        """Two standard errors of an accuracy, in points (binomial); None for perplexity."""
        if self.metric != "acc %":
            return None
        p = self.value / 100
        return 200 * math.sqrt(max(p * (1 - p), 1 / self.n) / self.n)


def _logits(model: HopeLM, ids: torch.Tensor, online: bool) -> torch.Tensor:
    """Logits [B, T, V]; an online model reads from θ₀ with its CMS levels learning, as in training."""
    if online:
        return learn.online_forward(model, ids, learn.start(model))[0].detach()
    return model(ids).logits


def _tally(model: HopeLM, online: bool, stream: Iterator[Batch], n_batches: int) -> tuple[float, dict[int, Any]]:
    """Token-mean loss on the scored positions, and per ``group`` (−1: all; 0, 1: CTNL's languages)
    the hits, the count and a histogram of the right answers."""
    nll, groups = 0.0, {}
    with torch.no_grad():
        for batch in islice(stream, n_batches):
            logits = _logits(model, batch.ids, online).float()  # [B, T, V]
            scored = batch.targets != IGNORE
            hit = logits.argmax(-1) == batch.targets
            nll += float(F.cross_entropy(logits[scored], batch.targets[scored], reduction="sum"))
            group = batch.group if batch.group is not None else torch.full_like(batch.targets, -1)
            for g in [-1, *(g for g in group[scored].unique().tolist() if g >= 0)]:
                mine = scored & (group == g) if g >= 0 else scored
                hits, count, answers = groups.get(g, (0, 0, torch.zeros(logits.shape[-1], dtype=torch.long)))
                groups[g] = (hits + int(hit[mine].sum()), count + int(mine.sum()),
                             answers + torch.bincount(batch.targets[mine], minlength=logits.shape[-1]))
    return nll / groups[-1][1], groups


def _accuracy(task: str, tally: tuple[int, int, torch.Tensor]) -> Score:
    hits, count, answers = tally
    return Score(task, "acc %", 100 * hits / count, 100 * int(answers.max()) / count, count)


def score(model: HopeLM, task: str, budget: Budget, seed: int, online: bool) -> list[Score]:
    """The rows ``task`` contributes, on held-out data the three models share."""
    B, n = budget.eval_batch_size, budget.eval_batches
    if task == "text":
        stream = source_batches("text", B, TEXT_SEQ_LEN, seed=seed, split="eval", corpora=CORPORA)
        loss, groups = _tally(model, online, stream, n)
        return [Score("text (pydoc)", "ppl", math.exp(loss), None, groups[-1][1])]
    _, groups = _tally(model, online, source_batches(task, B, None, seed=seed, split="eval"), n)
    if task == "ctnl":
        return [_accuracy(f"ctnl lang {'AB'[g]} ({'first' if g == 0 else 'second'})", groups[g]) for g in (0, 1)]
    rows = [_accuracy(task, groups[-1])]
    if task == "parity":
        _, long = _tally(model, online, task_batches(LONG_PARITY, B, seed=seed, stream="eval"), n)
        rows.append(_accuracy("parity len 33-64", long[-1]))
    return rows


def run(budget: Budget, seed: int, tasks: tuple[str, ...] = TASKS) -> dict[str, Any]:
    """Train and score every model on every task; returns the full record (rows and per-run detail)."""
    configs = build_configs()
    rows, runs = [], []
    for task in tasks:
        for name in MODELS:
            tc = TrainConfig(steps=budget.steps, task=task, batch_size=budget.batch_size, lr=budget.lr,
                             eval_batches=1, seed=seed, corpora=CORPORA if task == "text" else None)
            t0 = time.perf_counter()
            result = train(configs[name], tc)
            trained = time.perf_counter() - t0
            online = bool(learn.online_levels(result.model))
            scores = score(result.model, task, budget, seed, online)
            wall = time.perf_counter() - t0
            print(f"{task:>8} {name:>13}: {budget.steps} steps, loss {result.losses[0]:.3f} -> "
                  f"{result.losses[-1]:.3f}, {trained:.1f} s train + {wall - trained:.1f} s eval", file=sys.stderr,
                  flush=True)
            runs.append({"task": task, "model": name, "losses": result.losses, "train_s": trained,
                         "eval_s": wall - trained, "tokens": result.tokens, "tokens_per_s": result.tokens_per_s,
                         # what the online CMS levels add: the same weights read with them frozen at θ₀
                         "online_off": [asdict(s) for s in score(result.model, task, budget, seed, False)]
                         if online else None})
            for i, s in enumerate(scores):
                rows.append({**asdict(s), "margin": s.margin, "model": name, "params": result.model.num_params(),
                             "tokens": result.tokens, "tokens_per_s": result.tokens_per_s if i == 0 else None,
                             "wall_s": wall if i == 0 else None})
    _compare(rows)
    return {"budget": asdict(budget), "seed": seed, "configs": {n: c.to_json() for n, c in configs.items()},
            "rows": rows, "runs": runs}


def _above_chance(r: dict[str, Any]) -> bool:
    return r["value"] - r["chance"] > r["margin"]


def _compare(rows: list[dict[str, Any]]) -> None:
    """Add each row's difference from Transformer++ on the same metric (points for accuracy; a ratio
    for perplexity) and the throughput ratio. An accuracy difference is ``decided`` only when it
    exceeds two standard errors and the better model beats the most-common-answer rate: two models
    that each learned only a (different) constant answer are tied, however far apart they land."""
    base = {r["task"]: r for r in rows if r["model"] == BASELINE}
    for r in rows:
        b = base[r["task"]]
        if r["metric"] == "ppl":
            r["vs_baseline"], r["decided"] = r["value"] / b["value"], None
        else:
            r["vs_baseline"] = r["value"] - b["value"]
            better = r if r["vs_baseline"] > 0 else b
            r["decided"] = abs(r["vs_baseline"]) > math.hypot(r["margin"], b["margin"]) and _above_chance(better)
        r["speed_vs_baseline"] = (r["tokens_per_s"] / b["tokens_per_s"]
                                  if r["tokens_per_s"] is not None and b["tokens_per_s"] else None)


def table(rows: list[dict[str, Any]]) -> str:
    columns = ("task", "model", "params", "tokens", "metric", "value", "±2se", "chance", f"vs {BASELINE}", "tok/s",
               f"tok/s vs {BASELINE}", "wall s")

    def vs(r: dict[str, Any]) -> str:
        if r["model"] == BASELINE:
            return "-"
        return f"x{r['vs_baseline']:.3f}" if r["metric"] == "ppl" else f"{r['vs_baseline']:+.1f} pts"

    return format_table(columns, [
        (r["task"], r["model"], f"{r['params']:,}", f"{r['tokens']:,}", r["metric"], r["value"], r["margin"],
         r["chance"], vs(r), r["tokens_per_s"],
         None if r["speed_vs_baseline"] is None else f"{r['speed_vs_baseline']:.3f}x", r["wall_s"])
        for r in rows])


def summary(rows: list[dict[str, Any]]) -> str:
    """The headline: per model, accuracies won and lost against Transformer++ (see ``_compare``),
    perplexity and speed ratios; then how many accuracies each model lifted above chance."""
    parts = []
    for name in MODELS:
        if name == BASELINE:
            continue
        mine = [r for r in rows if r["model"] == name]
        accs = [r for r in mine if r["metric"] == "acc %"]
        wins = sum(r["decided"] and r["vs_baseline"] > 0 for r in accs)
        losses = sum(r["decided"] and r["vs_baseline"] < 0 for r in accs)
        ppl = [r for r in mine if r["metric"] == "ppl"]
        speeds = [r["speed_vs_baseline"] for r in mine if r["speed_vs_baseline"] is not None]
        text = f"{name} vs {BASELINE}: {wins} won, {losses} lost, {len(accs) - wins - losses} tied of " \
               f"{len(accs)} accuracies"
        if ppl:
            text += f", ppl x{ppl[0]['vs_baseline']:.2f}"
        if speeds:
            text += f", {math.exp(sum(map(math.log, speeds)) / len(speeds)):.3f}x its tok/s"
        parts.append(text)
    accuracies = [r for r in rows if r["metric"] == "acc %"]
    learned = ", ".join(f"{name} {sum(_above_chance(r) for r in accuracies if r['model'] == name)}" for name in MODELS)
    return "; ".join(parts) + f"; above chance (2 se): {learned}"


def _params_line(rows: list[dict[str, Any]]) -> str:
    params = {r["model"]: r["params"] for r in rows}
    ref = params["Hope"]
    spread = max(abs(p / ref - 1) for p in params.values())
    listed = ", ".join(f"{m} {p:,} ({100 * (p / ref - 1):+.1f}%)" for m, p in params.items())
    return f"params: {listed}; max spread {100 * spread:.1f}% ({'within' if spread <= 0.10 else 'OUTSIDE'} ±10%)"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hope_vs_baselines", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK.steps} steps per task and a smaller eval set")
    p.add_argument("--steps", type=int, help="optimizer steps per model and task (overrides the budget's)")
    p.add_argument("--lr", type=float, help="peak lr, the same for all three models")
    p.add_argument("--eval-batches", type=int, help=f"held-out batches of {QUICK.eval_batch_size} rows per task")
    p.add_argument("--tasks", help=f"comma-separated subset of {','.join(TASKS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on 2 shared cores, 2 threads ran up to 10x slower)")
    p.add_argument("--json", help="write the full record (configs, rows, loss curves) here")
    args = p.parse_args(argv)
    budget = QUICK if args.quick else FULL
    overrides = {k: v for k, v in (("steps", args.steps), ("lr", args.lr), ("eval_batches", args.eval_batches))
                 if v is not None}
    budget = Budget(**{**asdict(budget), **overrides})
    tasks = tuple(args.tasks.split(",")) if args.tasks else TASKS
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or budget.steps <= 0 or budget.eval_batches <= 0:
        p.error(f"tasks must come from {','.join(TASKS)}, steps and eval batches be positive; got "
                f"{args.tasks!r}, {budget.steps}, {budget.eval_batches}")
    torch.set_num_threads(args.threads)
    env = environment(("torch",), threads=args.threads, budget=", ".join(f"{k} {v}" for k, v in asdict(budget).items()))
    print_header("Hope vs parameter-matched baselines, equal tokens (issue 3)", env)
    sys.stdout.flush()  # before the per-run progress lines on stderr
    start = time.perf_counter()
    record = run(budget, args.seed, tasks)
    print(_params_line(record["rows"]))
    print()
    print(table(record["rows"]))
    print()
    total = time.perf_counter() - start
    print(f"{summary(record['rows'])} (total {total:.0f} s)")
    if args.json:
        write_json(args.json, {"environment": env, **record, "total_s": total})


if __name__ == "__main__":
    main()
