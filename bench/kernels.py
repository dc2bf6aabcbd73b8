# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported; see below)
"""CPU kernel benchmark (kernels.md "Benchmarks"): the naive per-token loop against the chunked face
over T, then one-token decode of a small recurrent LM in torch eager against onnxruntime.

    python -m bench.kernels --quick          # gated_delta_rule only, under 2 minutes on 2 cores
    python -m bench.kernels --json out.json  # also momentum and chunk-start rules

Both baselines are timed in the same run, so each ratio compares like with like on this machine.
"""

from __future__ import annotations

import os

# Busy-waiting worker threads stall 10-100x when other processes share the cores (measured on the
# 2-core box at load 6-9: naive T=1024 took 0.2-12 s per call spinning, 70-200 ms passive), so both
# runtimes wait passively unless OMP_WAIT_POLICY says otherwise. Set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import io
import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import kernels
from bench._report import environment, format_table, median_seconds, print_header, write_json

B, H, D = 1, 4, 64
CHUNK = 64
TS = (256, 1024, 4096)


def spinning() -> bool:
    """Whether idle worker threads busy-wait; onnxruntime follows torch's OpenMP policy."""
    return os.environ["OMP_WAIT_POLICY"].upper() != "PASSIVE"


@dataclass(frozen=True)
class Op:
    """A sequence op with the arguments it needs beyond q, k, v, log α, η."""

    name: str
    has_momentum: bool
    call: Callable[..., tuple[torch.Tensor, Any]]


OPS = {
    "gated_delta_rule": Op("gated_delta_rule", False,
                           lambda x, face: kernels.gated_delta_rule(*x[:5], chunk_size=CHUNK, face=face)),
    "momentum_delta_rule": Op("momentum_delta_rule", True,
                              lambda x, face: kernels.momentum_delta_rule(*x, chunk_size=CHUNK, face=face)),
    "chunk_start_delta_rule": Op("chunk_start_delta_rule", False,
                                 lambda x, face: kernels.chunk_start_delta_rule(*x[:5], chunk_size=CHUNK,
                                                                                face=face)),
}


def make_inputs(T: int, has_momentum: bool, seed: int = 0) -> list[torch.Tensor]:
    """q, k, v [B, T, H, D] fp32 with unit keys; α ∈ [0.9, 1), η ∈ [0, 0.5), β ∈ [0, 0.9): a stable
    regime, so the timings aren't of overflowing or NaN arithmetic."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, D, generator=gen)
    k = F.normalize(torch.randn(B, T, H, D, generator=gen), dim=-1)
    v = torch.randn(B, T, H, D, generator=gen)
    log_decay = torch.log(0.9 + 0.1 * torch.rand(B, T, H, generator=gen))
    eta = 0.5 * torch.rand(B, T, H, generator=gen)
    return [q, k, v, log_decay, eta] + ([0.9 * torch.rand(B, T, H, generator=gen)] if has_momentum else [])


def time_op(op: Op, face: str, T: int, budget_s: float) -> dict[str, Any]:
    """Median forward (no graph) and forward+backward (gradients for every input) wall times."""
    inputs = make_inputs(T, op.has_momentum)
    with torch.no_grad():
        fwd_s, fwd_reps = median_seconds(lambda: op.call(inputs, face), budget_s=budget_s)

    leaves = [x.clone().requires_grad_() for x in inputs]
    do = torch.randn(B, T, H, D, generator=torch.Generator().manual_seed(1))

    def fwd_bwd() -> None:
        for x in leaves:
            x.grad = None
        op.call(leaves, face)[0].backward(do)

    bwd_s, bwd_reps = median_seconds(fwd_bwd, budget_s=budget_s)
    return {"op": op.name, "face": face, "T": T, "H": H, "D": D, "B": B, "fwd_ms": 1e3 * fwd_s,
            "fwd_bwd_ms": 1e3 * bwd_s, "tok_per_s": B * T / fwd_s, "repeats": [fwd_reps, bwd_reps]}


def prefill_rows(ops: list[str], budget_s: float) -> list[dict[str, Any]]:
    rows = []
    for name in ops:
        for T in TS:
            naive = time_op(OPS[name], "naive", T, budget_s)
            chunk = time_op(OPS[name], "chunk", T, budget_s)
            for row in (naive, chunk):
                row["fwd_x_naive"] = naive["fwd_ms"] / row["fwd_ms"]
                row["fwd_bwd_x_naive"] = naive["fwd_bwd_ms"] / row["fwd_bwd_ms"]
                rows.append(row)
    return rows


class DecodeModel(torch.nn.Module):
    """A small recurrent LM's one-token step: embedding, blocks of norm → projections → memory step
    → output projection (even blocks the gated delta rule, odd ones exact momentum), LM head.

    State goes in and comes out as plain tensors, so the exported graph returns every update.
    """

    def __init__(self, vocab: int = 4096, d_model: int = 256, layers: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(vocab, d_model)
        self.proj = torch.nn.ModuleList(torch.nn.Linear(d_model, 3 * H * D + 3 * H) for _ in range(layers))
        self.out = torch.nn.ModuleList(torch.nn.Linear(H * D, d_model) for _ in range(layers))
        self.head = torch.nn.Linear(d_model, vocab)

    def initial_states(self, n: int) -> list[torch.Tensor]:
        return [torch.zeros(n, H, *(() if i % 2 == 0 else (2,)), D, D) for i in range(len(self.proj))]

    def forward(self, ids: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.embed(ids)  # [N, d_model]
        new_states = []
        for i, (proj, out, state) in enumerate(zip(self.proj, self.out, states)):
            h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
            q, k, v, gates = proj(h).split([H * D, H * D, H * D, 3 * H], dim=-1)
            q, k, v = (t.reshape(-1, H, D) for t in (q, k, v))  # [N, H, D]
            a, e, m = gates.reshape(-1, 3, H).unbind(1)  # [N, H] each
            log_decay, eta, beta = F.logsigmoid(a + 4.0), 0.5 * torch.sigmoid(e), 0.9 * torch.sigmoid(m)
            if i % 2 == 0:
                o, state = kernels.gated_delta_rule_step(q, k, v, log_decay, eta, state, use_qk_l2norm=True)
            else:
                o, state = kernels.momentum_delta_rule_step(q, k, v, log_decay, eta, beta, state,
                                                            use_qk_l2norm=True)
            x = x + out(o.reshape(-1, H * D))
            new_states.append(state)
        return (self.head(x), *new_states)


def export_onnx(model: DecodeModel, path: Path) -> None:
    """Export with batch 2 and a symbolic batch dim (an example batch of 1 freezes it at 1)."""
    states = model.initial_states(2)
    batch = torch.export.Dim("batch", min=1, max=256)
    # The exporter narrates each stage and warns about optional packages; the table is the output here.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(2, dtype=torch.int64), *states), str(path), dynamo=True,
                              dynamic_shapes=({0: batch}, tuple({0: batch} for _ in states)))
    finally:
        exporter_log.setLevel(level)


def decode_rows(threads: int, tokens: int) -> list[dict[str, Any]]:
    """tokens/s at B = 1 for eager torch and onnxruntime (median of 3 runs of ``tokens`` teacher-forced
    steps), after checking they agree over 32 steps; a disagreeing onnxruntime is not timed."""
    from personal_nl.onnx import ort as onnx_runtime

    ort = onnx_runtime.runtime()  # with its telemetry off, as everywhere in the project

    model = DecodeModel().eval()
    params = sum(p.numel() for p in model.parameters())
    label = f"{len(model.proj)} layers, d=256, vocab 4096, {params / 1e6:.1f}M params"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "step.onnx"
        start = time.perf_counter()
        export_onnx(model, path)
        export_s = time.perf_counter() - start
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning())))
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    ids = torch.randint(0, 4096, (tokens + 32, 3), generator=torch.Generator().manual_seed(2))

    def eager(n: int, batch: int = 1) -> list[torch.Tensor]:
        states = model.initial_states(batch)
        with torch.inference_mode():
            for t in range(n):
                logits, *states = model(ids[t, :batch], *states)
        return [logits, *states]

    def onnx(n: int, batch: int = 1) -> list[torch.Tensor]:
        states = [s.numpy() for s in model.initial_states(batch)]
        for t in range(n):
            logits, *states = session.run(None, dict(zip(names, [ids[t, :batch].numpy(), *states])))
        return [torch.from_numpy(x) for x in (logits, *states)]

    # Parity first (B = 1 and B = 3, so the batch dim is really dynamic): logits and every state.
    parity = max((a - b).abs().max().item() for batch in (1, 3)
                 for a, b in zip(eager(32, batch), onnx(32, batch)))
    runtimes = [("torch eager", eager)]
    if parity <= 1e-4:
        runtimes.append(("onnxruntime", onnx))
    else:
        print(f"onnxruntime NOT timed: it disagrees with eager, max abs err {parity:.2e} > 1e-4")
    rows = []
    for runtime, run in runtimes:
        run(8)
        seconds, _ = median_seconds(lambda run=run: run(tokens), warmup=0, max_repeats=3)
        rows.append({"model": label, "runtime": runtime, "B": 1, "threads": threads,
                     "tok_per_s": tokens / seconds, "ms_per_token": 1e3 * seconds / tokens,
                     "max_abs_err": parity, "export_s": export_s})
    for row in rows:
        row["x_eager"] = row["tok_per_s"] / rows[0]["tok_per_s"]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="gated_delta_rule only, fewer repeats (< 2 min)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and onnxruntime threads")
    parser.add_argument("--json", metavar="PATH", help="write the full record here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    env = environment(["torch", "triton", "onnxruntime", "onnxscript"], threads=torch.get_num_threads(),
                      waiting=f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, onnxruntime allow_spinning="
                              f"{int(spinning())}",
                      shapes=f"B={B}, H={H}, D={D}, float32, chunk {CHUNK}; fwd without autograd, "
                             f"fwd+bwd = backward of (o·do) to every input; medians after warm-up")
    print_header("kernels: naive loop vs chunked face (CPU), and decode eager vs onnxruntime", env)
    ops = ["gated_delta_rule"] if args.quick else list(OPS)
    rows = prefill_rows(ops, budget_s=0.5 if args.quick else 2.0)
    print(format_table(
        ["op", "face", "T", "H", "D", "fwd ms", "fwd+bwd ms", "tok/s (fwd)", "fwd x naive", "fwd+bwd x naive"],
        [[r["op"], r["face"], r["T"], r["H"], r["D"], r["fwd_ms"], r["fwd_bwd_ms"], r["tok_per_s"],
          r["fwd_x_naive"], r["fwd_bwd_x_naive"]] for r in rows]))
    print()
    decode = decode_rows(args.threads, tokens=100 if args.quick else 300)
    print(format_table(
        ["decode step (B=1, fp32)", "runtime", "threads", "tok/s", "ms/token", "x eager", "max abs err"],
        [[r["model"], r["runtime"], r["threads"], r["tok_per_s"], r["ms_per_token"], r["x_eager"],
          f"{r['max_abs_err']:.1e}"] for r in decode]))
    print()
    headline = next(r["fwd_x_naive"] for r in rows
                    if r["op"] == "gated_delta_rule" and r["face"] == "chunk" and r["T"] == 4096)
    load = os.getloadavg()
    load_after = "{:.2f} {:.2f} {:.2f}".format(*load)
    busy = " (more runnable processes than cores: timings inflated)" if load[0] > (os.cpu_count() or 1) else ""
    print(f"load avg after: {load_after}{busy}")
    if args.json:
        write_json(args.json, {**env, "load avg after": load_after, "prefill": rows, "decode": decode,
                               "speedup_chunk_over_naive_T4096": headline})
    print(f"speedup chunk/naive T=4096: {headline:.1f}x")


if __name__ == "__main__":
    main()
