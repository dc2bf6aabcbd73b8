# ruff: noqa: E402  (sys.path is repaired before the project imports; see below)
"""The one prepared script for a lent CUDA machine (kernels.md tier 4 and "Benchmarks").

    python bench/kernels_gpu.py [--json PATH] [--budget-s 240]

It installs nothing and runs in one call: correctness first (the triton face against the float64
naive oracle on the GPU, prefill-then-decode against one call, fla's kernel where installed), then
timings (triton.testing.do_bench, medians), decode latency, the default model's decode (fp32 and the
half precision that keeps its greedy output) and one online learning step when the model is
installed (bench/_model_gpu.py), and a short table last. Every part
catches its own failure, prints it and goes on, and slow parts are skipped once the budget is
spent, so one broken kernel doesn't waste the lent minutes. Without CUDA it says so and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a file, bench/ leads sys.path and bench/kernels.py would shadow the kernels package.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import contextlib
import functools
import os
import signal
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

import kernels
from bench._model_gpu import default_model_rows
from bench._report import environment, format_table, print_header, write_json
from kernels._state import MemoryState
from kernels.testing import assert_close, rms_ratio

DEVICE = "cuda"
FACE = "triton"  # the face under test
OPS = ("gated_delta_rule", "decay_write", "momentum_delta_rule", "chunk_start_delta_rule",
       "chunk_start_delta_rule+momentum")
TIMED_OPS = ("gated_delta_rule", "momentum_delta_rule", "chunk_start_delta_rule")
# (dtype, (B, T, H, D), ops); T is ragged against any block size. D = 128 only for the timed ops:
# every new (D, dtype, rule, which states are passed) autotunes the triton face afresh, 12 configs
# compiled and timed on the lease (~0.2 s a compile measured for sm_90 on a 2-core CPU).
CHECKS = (
    (torch.bfloat16, (2, 200, 16, 64), OPS),
    (torch.bfloat16, (1, 67, 16, 128), TIMED_OPS),
    (torch.float32, (2, 200, 16, 64), OPS),
)
CHECK_CHUNK = 32  # chunk_start's (semantic) chunk in the checks: several boundaries inside T
LIMITS = {torch.float32: (1e-4, 1e-4), torch.bfloat16: (5e-3, 2e-2)}  # rms ratio: (o and states, grads)
BENCH_B, BENCH_H, BENCH_DS, BENCH_TS = 8, 16, (64, 128), (1024, 4096, 16384)
DECODE_H, DECODE_D, DECODE_BATCHES = 16, 128, (1, 64)


def has_momentum(op: str) -> bool:
    return op in ("momentum_delta_rule", "chunk_start_delta_rule+momentum")


def make_inputs(op: str, B: int, T: int, H: int, D: int, dtype: torch.dtype, seed: int = 0) -> dict[str, Any]:
    """q, k, v [B, T, H, D] in ``dtype`` (unit keys); log α, η (and β) [B, T, H] fp32 with α ∈ [0.8, 1),
    η ∈ [0, 0.9), β ∈ [0, 0.9): a stable regime, with memory reaching back tens of tokens."""
    gen = torch.Generator(device=DEVICE).manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=DEVICE)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=DEVICE)

    x = {"q": randn(B, T, H, D).to(dtype), "k": F.normalize(randn(B, T, H, D), dim=-1).to(dtype),
         "v": randn(B, T, H, D).to(dtype), "log_decay": torch.log(0.8 + 0.2 * rand(B, T, H)),
         "eta": 0.9 * rand(B, T, H)}
    if has_momentum(op):
        x["momentum"] = 0.9 * rand(B, T, H)
    return x


def make_state(op: str, N: int, H: int, D: int, seed: int = 1) -> MemoryState:
    """A non-trivial fp32 state; chunk_start states start mid-chunk."""
    gen = torch.Generator(device=DEVICE).manual_seed(seed)

    def rand() -> torch.Tensor:
        return 0.3 * torch.randn(N, H, D, D, generator=gen, device=DEVICE)

    chunk_start = op.startswith("chunk_start")
    return MemoryState(rand(), rand() if has_momentum(op) else None, rand() if chunk_start else None,
                       torch.randint(0, CHECK_CHUNK, (N,), generator=gen, device=DEVICE) if chunk_start else None)


def run_sequence(op: str, x: dict[str, Any], state: MemoryState | None, face: str, *, chunk: int = CHECK_CHUNK,
                 final: bool = True) -> tuple[torch.Tensor, MemoryState | None]:
    """One op over whole sequences, with every op's state exchanged as a MemoryState."""
    args = (x["q"], x["k"], x["v"], x["log_decay"], x["eta"])
    if op in ("gated_delta_rule", "decay_write"):
        fn = kernels.gated_delta_rule if op == "gated_delta_rule" else kernels.decay_write
        o, s = fn(*args, initial_state=None if state is None else state.memory, output_final_state=final, face=face)
        return o, None if s is None else MemoryState(s)
    if op == "momentum_delta_rule":
        h0 = None if state is None else torch.stack([state.memory, state.momentum], dim=2)
        o, s = kernels.momentum_delta_rule(*args, x["momentum"], initial_state=h0, output_final_state=final,
                                           face=face)
        return o, None if s is None else MemoryState(s[:, :, 0], s[:, :, 1])
    return kernels.chunk_start_delta_rule(*args, chunk_size=chunk, momentum=x.get("momentum"),
                                          initial_state=state, output_final_state=final, face=face)


def run_step(op: str, x: dict[str, Any], state: MemoryState, *, chunk: int = CHECK_CHUNK
             ) -> tuple[torch.Tensor, MemoryState]:
    """One decode token through the op's step function ([N, H, D] inputs, [N, H] scalars)."""
    args = (x["q"], x["k"], x["v"], x["log_decay"], x["eta"])
    if op == "gated_delta_rule":
        o, s = kernels.gated_delta_rule_step(*args, state.memory)
        return o, MemoryState(s)
    if op == "decay_write":
        o, s = kernels.decay_write_step(*args, state.memory)
        return o, MemoryState(s)
    if op == "momentum_delta_rule":
        o, s = kernels.momentum_delta_rule_step(*args, x["momentum"], torch.stack([state.memory, state.momentum], 2))
        return o, MemoryState(s[:, :, 0], s[:, :, 1])
    return kernels.chunk_start_delta_rule_step(*args, state, chunk_size=chunk, momentum=x.get("momentum"))


def fla_chunk(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta: torch.Tensor,
              h0: torch.Tensor | None, final: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """fla's chunk_gated_delta_rule with fp32 β, or β in q's dtype where this fla version refuses fp32."""
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule

    try:
        return chunk_gated_delta_rule(q=q, k=k, v=v, g=g, beta=beta, scale=1.0, initial_state=h0,
                                      output_final_state=final)
    except Exception:
        if beta.dtype == q.dtype:
            raise
        return fla_chunk(q, k, v, g, beta.to(q.dtype), h0, final)


def fla_sequence(x: dict[str, Any], state: MemoryState | None) -> tuple[torch.Tensor, MemoryState | None]:
    """Op 1 through fla: g = log α, β = η/α, v' = α·v, scale 1 gives the same o and state
    (fla decays before it predicts); the mapping is differentiated too, so gradients compare."""
    alpha = x["log_decay"].exp()
    v = (alpha[..., None] * x["v"].float()).to(x["v"].dtype)
    o, s = fla_chunk(x["q"], x["k"], v, x["log_decay"], x["eta"] / alpha,
                     None if state is None else state.memory, True)
    return o, MemoryState(s)


def floats(state: MemoryState | None) -> dict[str, torch.Tensor]:
    """The state's float tensors by field name (the position counter is an int and has no gradient)."""
    if state is None:
        return {}
    return {n: t for n, t in state._asdict().items() if t is not None and t.is_floating_point()}


def as_leaves(x: dict[str, Any], state: MemoryState, dtype: torch.dtype | None = None
              ) -> tuple[dict[str, torch.Tensor], MemoryState]:
    """Fresh leaf copies (cast to ``dtype`` if given) that collect gradients; positions stay ints."""
    def leaf(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None or not t.is_floating_point():
            return t
        return t.detach().to(dtype or t.dtype).clone().requires_grad_()
    return {n: leaf(t) for n, t in x.items()}, MemoryState(*(leaf(t) for t in state))


def forward_backward(call: Callable[..., tuple[torch.Tensor, MemoryState | None]], x: dict[str, torch.Tensor],
                     state: MemoryState, seed: int = 3) -> dict[str, torch.Tensor | None]:
    """o, the final state and the gradient of a fixed random loss on both, for every input and initial state."""
    o, final = call(x, state)
    gen = torch.Generator(device=DEVICE).manual_seed(seed)
    loss = (o.double() * torch.randn(o.shape, generator=gen, device=DEVICE, dtype=torch.float64)).sum()
    for t in floats(final).values():
        loss = loss + (t.double() * torch.randn(t.shape, generator=gen, device=DEVICE, dtype=torch.float64)).sum()
    loss.backward()
    out = {"o": o.detach(), **{f"final.{n}": t.detach() for n, t in floats(final).items()}}
    out |= {f"d{n}": t.grad for n, t in x.items() if t is not None}
    return out | {f"dh0.{n}": t.grad for n, t in floats(state).items()}


def compare(tag: str, ref: dict[str, torch.Tensor | None], got: dict[str, torch.Tensor | None],
            limits: tuple[float, float]) -> list[dict[str, Any]]:
    """One record per tensor, through kernels.testing.assert_close: its message names the worst error."""
    records = []
    for name, r in ref.items():
        g, limit = got.get(name), limits[1] if name.startswith("d") else limits[0]
        if r is None:
            continue
        try:
            if g is None:
                raise AssertionError(f"{name}: no tensor (no gradient reached this input?)")
            assert_close(name, r, g, limit)
            message = ""
        except AssertionError as err:
            message = str(err)
        ratio = rms_ratio(r, g) if g is not None and g.shape == r.shape else float("inf")
        records.append({"check": tag, "tensor": name, "rms_ratio": ratio, "limit": limit, "ok": not message,
                        "message": message})
    return records


def report(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per checked call: ok with its worst ratio, or each failing tensor."""
    bad = [r for r in records if not r["ok"]]
    worst = max(records, key=lambda r: r["rms_ratio"] / r["limit"])
    status = "ok  " if not bad else "FAIL"
    print(f"  {status} {records[0]['check']}: worst {worst['tensor']} {worst['rms_ratio']:.1e} "
          f"(limit {worst['limit']:.0e})")
    for r in bad:
        print(f"         {r['message']}")
    return records


def oracle_checks(op: str, dtype: torch.dtype, shape: tuple[int, int, int, int]) -> list[dict[str, Any]]:
    """The face under test against the float64 naive face on the same (rounded) inputs, on the GPU."""
    B, T, H, D = shape
    x, state = make_inputs(op, B, T, H, D, dtype), make_state(op, B, H, D)
    got = forward_backward(lambda x, s: run_sequence(op, x, s, FACE), *as_leaves(x, state))
    ref = forward_backward(lambda x, s: run_sequence(op, x, s, "naive"), *as_leaves(x, state, torch.float64))
    name = {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
    return report(compare(f"{FACE} vs fp64 naive {op} B{B}-T{T}-H{H}-D{D}-{name}", ref, got, LIMITS[dtype]))


def prefill_decode_checks(op: str, B: int = 2, T: int = 100, N: int = 12, H: int = 16, D: int = 64
                          ) -> list[dict[str, Any]]:
    """A prefill call over T then N step-decoded tokens equals one call over T + N (fp32)."""
    # Inputs that require grad make the forward keep checkpoints, i.e. reuse the kernel variants the
    # fp32 oracle checks already autotuned; the outputs are the same either way.
    x, state = as_leaves(make_inputs(op, B, T + N, H, D, torch.float32), make_state(op, B, H, D))
    o_full, final_full = run_sequence(op, x, state, FACE)
    o_pre, s = run_sequence(op, {n: t[:, :T] for n, t in x.items()}, state, FACE)
    o_steps = []
    for t in range(T, T + N):
        o_t, s = run_step(op, {n: v[:, t] for n, v in x.items()}, s)
        o_steps.append(o_t)
    ref = {"o[:T]": o_full[:, :T], "o[T:]": o_full[:, T:], **floats(final_full)}
    got = {"o[:T]": o_pre, "o[T:]": torch.stack(o_steps, dim=1), **floats(s)}
    return report(compare(f"prefill {T} + decode {N} == one call, {op} fp32", ref, got, (1e-5, 1e-5)))


def fla_checks(shape: tuple[int, int, int, int]) -> list[dict[str, Any]]:
    """Op 1's face under test against fla's chunk_gated_delta_rule in bf16 (and both against the oracle)."""
    B, T, H, D = shape
    op = "gated_delta_rule"
    x, state = make_inputs(op, B, T, H, D, torch.bfloat16), make_state(op, B, H, D)
    ours = forward_backward(lambda x, s: run_sequence(op, x, s, FACE), *as_leaves(x, state))
    theirs = forward_backward(fla_sequence, *as_leaves(x, state))
    ref = forward_backward(lambda x, s: run_sequence(op, x, s, "naive"), *as_leaves(x, state, torch.float64))
    tag = f"B{B}-T{T}-H{H}-D{D}-bf16"
    # Each side may stray from the truth by its limit, so the two may differ by twice that.
    limits = tuple(2 * limit for limit in LIMITS[torch.bfloat16])
    records = report(compare(f"{FACE} vs fla chunk_gated_delta_rule {tag}", theirs, ours, limits))
    # For scale only (not a pass/fail of ours): how far fla itself is from the fp64 oracle.
    for r in compare(f"fla vs fp64 naive {tag}", ref, theirs, LIMITS[torch.bfloat16]):
        print(f"         fla vs oracle {r['tensor']}: {r['rms_ratio']:.1e}")
    return records


# Minimum HBM traffic of one call, per token and head (K = V = D, ``e`` bytes per q/k/v/o element,
# ``s`` fp32 scalars per token such as log α, η, β): the forward reads q, k, v and the scalars and
# writes o = e·4D + 4s; the backward reads q, k, v, do and the scalars and writes dq, dk, dv and the
# scalars' gradients = e·7D + 8s. No state goes in or out in these timings. It is a lower bound: chunked
# kernels also store and re-read per-chunk states (fla-like count, research/kernels.md §5.2: ~4.6 KB at
# D = 128 against 1.0 KB here), so "% of HBM" below is the stricter of the two readings.
def min_bytes(B: int, T: int, H: int, D: int, element: int, scalars: int, backward: bool) -> int:
    per_token_head = element * 4 * D + 4 * scalars
    if backward:
        per_token_head += element * 7 * D + 8 * scalars
    return B * T * H * per_token_head


def peak_bandwidth() -> tuple[float, str]:
    """HBM peak for this GPU (bytes/s): the H100 SXM figure the targets use, unless the name says otherwise."""
    name = torch.cuda.get_device_name()
    if "H200" in name:
        return 4.8e12, "H200 4.8 TB/s (NVIDIA's figure, unverified)"
    if "H100" in name and "PCIe" in name:
        return 2.0e12, "H100 PCIe 2.0 TB/s"
    return 3.35e12, "H100 SXM 3.35 TB/s"


def sync() -> None:
    torch.cuda.synchronize()


def bench_ms(fn: Callable[[], Any], grads: list[torch.Tensor]) -> tuple[float, float, float]:
    """(median, p20, p80) in ms from CUDA events, after do_bench's warm-up."""
    import triton.testing

    return tuple(triton.testing.do_bench(fn, grad_to_none=grads, quantiles=[0.5, 0.2, 0.8]))


Builder = Callable[[int, int], tuple[Callable[[], Any], Callable[[], Any], list[torch.Tensor]]]


def ours(op: str, face: str, compiled: bool = False) -> Builder:
    """(fwd, fwd+bwd, leaves) for one of our faces on bf16 inputs without states."""
    def build(D: int, T: int) -> tuple[Callable[[], Any], Callable[[], Any], list[torch.Tensor]]:
        x = make_inputs(op, BENCH_B, T, BENCH_H, D, torch.bfloat16)
        call = lambda x: run_sequence(op, x, None, face, chunk=64, final=False)[0]  # noqa: E731
        if compiled:
            call = torch.compile(call)
        leaves = {n: t.clone().requires_grad_() for n, t in x.items()}
        do = torch.randn_like(x["v"])
        return (lambda: call(x)), (lambda: call(leaves).backward(do)), list(leaves.values())
    return build


def fla_builder(D: int, T: int) -> tuple[Callable[[], Any], Callable[[], Any], list[torch.Tensor]]:
    """fla's kernel alone: inputs are mapped (v' = α·v, β = η/α) before timing."""
    x = make_inputs("gated_delta_rule", BENCH_B, T, BENCH_H, D, torch.bfloat16)
    alpha = x["log_decay"].exp()
    args = [x["q"], x["k"], (alpha[..., None] * x["v"].float()).to(torch.bfloat16), x["log_decay"], x["eta"] / alpha]
    leaves = [t.clone().requires_grad_() for t in args]
    do = torch.randn_like(x["v"])
    return ((lambda: fla_chunk(*args, None, False)), (lambda: fla_chunk(*leaves, None, False)[0].backward(do)),
            leaves)


def sdpa_builder(D: int, T: int) -> tuple[Callable[[], Any], Callable[[], Any], list[torch.Tensor]]:
    """Causal softmax attention through SDPA's flash backend on the same [B, T, H, D] bf16 tensors."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x = make_inputs("gated_delta_rule", BENCH_B, T, BENCH_H, D, torch.bfloat16)
    qkv = [x[n].transpose(1, 2) for n in "qkv"]  # [B, H, T, D] views
    leaves = [t.detach().clone().requires_grad_() for t in qkv]
    do = torch.randn_like(qkv[0])

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    return (lambda: attend(*qkv)), (lambda: attend(*leaves).backward(do)), leaves


# name, op (for the byte count), fp32 scalars per token, largest T, builder; in the order they run.
PRIMARY: list[tuple[str, str, int, int, Builder]] = [
    (FACE, "gated_delta_rule", 2, 16384, ours("gated_delta_rule", FACE)),
    ("fla chunk", "gated_delta_rule", 2, 16384, fla_builder),
    ("sdpa flash", "causal attention", 0, 16384, sdpa_builder),
    (FACE, "momentum_delta_rule", 3, 16384, ours("momentum_delta_rule", FACE)),
    (FACE, "chunk_start_delta_rule", 2, 16384, ours("chunk_start_delta_rule", FACE)),
]
SECONDARY: list[tuple[str, str, int, int, Builder]] = [
    ("chunk eager", "gated_delta_rule", 2, 4096, ours("gated_delta_rule", "chunk")),
    ("naive", "gated_delta_rule", 2, 2048, ours("gated_delta_rule", "naive")),
    ("chunk compiled", "gated_delta_rule", 2, 1024, ours("gated_delta_rule", "chunk", compiled=True)),
]


def time_one(impl: str, op: str, scalars: int, build: Builder, D: int, T: int, peak: float) -> dict[str, Any]:
    fwd, fwd_bwd, leaves = build(D, T)
    with torch.no_grad():
        f = bench_ms(fwd, [])
    torch.cuda.reset_peak_memory_stats()
    fb = bench_ms(fwd_bwd, leaves)
    row = {"impl": impl, "op": op, "B": BENCH_B, "T": T, "H": BENCH_H, "D": D,
           "fwd_ms": f[0], "fwd_ms_p20_p80": f[1:], "fwd_bwd_ms": fb[0], "fwd_bwd_ms_p20_p80": fb[1:],
           "tok_per_s_fwd": BENCH_B * T / (f[0] * 1e-3),
           "hbm_pct_fwd": 100 * min_bytes(BENCH_B, T, BENCH_H, D, 2, scalars, False) / (f[0] * 1e-3) / peak,
           "hbm_pct_fwd_bwd": 100 * min_bytes(BENCH_B, T, BENCH_H, D, 2, scalars, True) / (fb[0] * 1e-3) / peak,
           "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    print(f"  {impl:>15} {op:>22} D={D:<3} T={T:<5} fwd {f[0]:8.3f} ms  fwd+bwd {fb[0]:8.3f} ms  "
          f"{row['hbm_pct_fwd']:5.1f}% HBM fwd")
    return row


def wall_us(fn: Callable[[], Any], calls: int = 200, repeats: int = 5) -> float:
    """µs per call of back-to-back calls by wall clock: what a decode loop sees, launch latency
    included (do_bench's events would hide it behind the queued cache flush)."""
    for _ in range(10):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - start) / calls)
    return 1e6 * statistics.median(times)


def decode_rows(B: int, peak: float, has_fla: bool) -> list[dict[str, Any]]:
    """One token per call at batch B: the torch step functions, our sequence call with T = 1, fla's
    fused recurrent kernel. State traffic = fp32 state read and written: 8·D² bytes per head (×2 with
    momentum)."""
    H, D, rows = DECODE_H, DECODE_D, []
    for op in ("gated_delta_rule", "momentum_delta_rule"):
        x, state = make_inputs(op, B, 1, H, D, torch.bfloat16), make_state(op, B, H, D)
        seq = [x[n] for n in ("q", "k", "v", "log_decay", "eta", "momentum") if n in x]  # [B, 1, H, *]
        tok = [t[:, 0] for t in seq]  # [B, H, *]
        if op == "gated_delta_rule":
            h0, step_fn, seq_fn = state.memory, kernels.gated_delta_rule_step, kernels.gated_delta_rule
        else:
            h0 = torch.stack([state.memory, state.momentum], dim=2)
            step_fn, seq_fn = kernels.momentum_delta_rule_step, kernels.momentum_delta_rule
        calls = {"step (torch eager)": functools.partial(step_fn, *tok, h0),
                 f"{FACE} T=1": functools.partial(seq_fn, *seq, initial_state=h0, output_final_state=True,
                                                  face=FACE)}
        if has_fla and op == "gated_delta_rule":
            from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule

            alpha = x["log_decay"].exp()
            calls["fla fused_recurrent T=1"] = functools.partial(
                fused_recurrent_gated_delta_rule, q=x["q"], k=x["k"],
                v=(alpha[..., None] * x["v"].float()).to(x["v"].dtype), g=x["log_decay"], beta=x["eta"] / alpha,
                scale=1.0, initial_state=h0, output_final_state=True)
        state_bytes = B * H * 8 * D * D * (2 if has_momentum(op) else 1)
        for impl, fn in calls.items():
            with torch.no_grad():
                us = wall_us(fn)
            rows.append({"impl": impl, "op": op, "B": B, "H": H, "D": D, "us_per_call": us,
                         "state_gb_per_s": state_bytes / us / 1e3,
                         "hbm_pct": 100 * state_bytes / (us * 1e-6) / peak})
            print(f"  {impl:>24} {op:>20} B={B:<3} {us:8.1f} µs/call  {rows[-1]['hbm_pct']:5.1f}% HBM")
    return rows


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds``: a stuck compile must not eat the lease."""
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"gave up after {seconds:.0f} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(seconds)))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Budget:
    """Runs parts until the wall-clock budget is spent; a failing part is printed, recorded, skipped."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.failures: list[str] = []
        self.broken = ""  # set once a kernel fault has left the CUDA context unusable

    def attempt(self, label: str, fn: Callable[[], Any], limit_s: float = 120.0) -> Any:
        left = self.deadline - time.monotonic()
        reason = "out of time" if left < 5 else f"the CUDA context broke earlier ({self.broken})" if self.broken else ""
        if reason:
            print(f"  skip {label}: {reason}")
            self.failures.append(f"{label}: skipped, {reason}")
            return None
        try:
            with time_limit(min(limit_s, left)):
                return fn()
        except Exception as err:  # report and go on: the rest of the run is still worth its minutes
            first_line = str(err).splitlines()[0] if str(err) else ""
            frames = traceback.extract_tb(err.__traceback__)[-2:]
            where = "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames)
            print(f"  FAIL {label}: {type(err).__name__}: {first_line} [{where}]")
            self.failures.append(f"{label}: {type(err).__name__}")
            if "CUDA error" in first_line or "illegal memory access" in first_line:
                self.broken = first_line  # every later CUDA call would fail the same way
            return None
        finally:
            if not self.broken:
                torch.cuda.empty_cache()


def summary(rows: list[dict[str, Any]]) -> str:
    """ours vs fla per shape, against kernels.md's targets."""
    def ms(impl: str, op: str, D: int, T: int, key: str = "fwd_ms") -> float | None:
        return next((r[key] for r in rows if (r["impl"], r["op"], r["D"], r["T"]) == (impl, op, D, T)), None)

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    out = []
    for D in BENCH_DS:
        for T in BENCH_TS:
            ours_f, fla_f = ms(FACE, "gated_delta_rule", D, T), ms("fla chunk", "gated_delta_rule", D, T)
            ours_fb = ms(FACE, "gated_delta_rule", D, T, "fwd_bwd_ms")
            pct = ms(FACE, "gated_delta_rule", D, T, "hbm_pct_fwd")
            out.append([D, T, ours_f, fla_f, ratio(ours_f, fla_f),
                        ratio(ours_fb, ms("fla chunk", "gated_delta_rule", D, T, "fwd_bwd_ms")),
                        ratio(ms(FACE, "momentum_delta_rule", D, T), ours_f), pct,
                        ms("sdpa flash", "causal attention", D, T)])
    return format_table(["D", "T", f"{FACE} fwd ms", "fla fwd ms", "x fla fwd (≤1.3)", "x fla fwd+bwd",
                         "momentum x ours fwd (≤2)", "fwd % HBM (≥50)", "sdpa fwd ms"], out)


def run_checks(budget: Budget, has_fla: bool) -> list[dict[str, Any]]:
    print("correctness")
    checks: list[dict[str, Any]] = []
    for dtype, shape, ops in CHECKS:
        for op in ops:
            checks += budget.attempt(f"oracle {op} {shape} {dtype}",
                                     functools.partial(oracle_checks, op, dtype, shape)) or []
    for op in OPS:
        checks += budget.attempt(f"prefill+decode {op}", functools.partial(prefill_decode_checks, op)) or []
    if has_fla:
        for _, shape, _ in CHECKS[:2]:
            checks += budget.attempt(f"fla {shape}", functools.partial(fla_checks, shape)) or []
    return checks


def run_timings(budget: Budget, impls: list[tuple[str, str, int, int, Builder]], has_fla: bool, peak: float
                ) -> list[dict[str, Any]]:
    rows = []
    for impl, op, scalars, max_t, build in impls:
        if impl == "fla chunk" and not has_fla:
            continue
        for D in BENCH_DS:
            for T in (t for t in BENCH_TS if t <= max_t):
                row = budget.attempt(f"{impl} {op} D={D} T={T}",
                                     functools.partial(time_one, impl, op, scalars, build, D, T, peak))
                rows.extend([row] if row else [])
    return rows


def print_tables(rows: list[dict[str, Any]], decode: list[dict[str, Any]]) -> None:
    """Every timing, with its ratio to fla at the same shape."""
    for row in rows:
        fla = next((r for r in rows if r["impl"] == "fla chunk" and (r["D"], r["T"]) == (row["D"], row["T"])), None)
        row["x_fla_fwd"] = row["fwd_ms"] / fla["fwd_ms"] if fla else None
        row["x_fla_fwd_bwd"] = row["fwd_bwd_ms"] / fla["fwd_bwd_ms"] if fla else None
    print()
    print(format_table(["impl", "op", "D", "T", "fwd ms", "fwd+bwd ms", "tok/s fwd", "x fla fwd", "x fla fwd+bwd",
                        "% HBM fwd", "% HBM fwd+bwd"],
                       [[r["impl"], r["op"], r["D"], r["T"], r["fwd_ms"], r["fwd_bwd_ms"], r["tok_per_s_fwd"],
                         r["x_fla_fwd"], r["x_fla_fwd_bwd"], r["hbm_pct_fwd"], r["hbm_pct_fwd_bwd"]] for r in rows]))
    print()
    print(format_table(["decode impl", "op", "B", "µs/call", "state GB/s", "% HBM"],
                       [[r["impl"], r["op"], r["B"], r["us_per_call"], r["state_gb_per_s"], r["hbm_pct"]]
                        for r in decode]))


PARTS = ("checks", "timings", "decode", "model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the full record here")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="run only these parts, e.g. to rerun timings after a fault (default: all)")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="seconds for all parts together; no part runs past it (start-up comes on top)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    if os.environ.pop("TRITON_INTERPRET", None):
        print("note: TRITON_INTERPRET was set; unset so triton compiles for the GPU")
    budget = Budget(args.budget_s)
    peak, peak_label = peak_bandwidth()
    capability = "".join(map(str, torch.cuda.get_device_capability()))
    env = environment(["torch", "triton", "flash-linear-attention", "fla-core"],
                      gpu=f"{torch.cuda.get_device_name()} (sm_{capability}, CUDA {torch.version.cuda})",
                      peak=peak_label, shapes=f"timings B={BENCH_B}, H={BENCH_H}, bf16 q/k/v, fp32 scalars, "
                                             f"no states; decode H={DECODE_H}, D={DECODE_D}")
    print_header("kernels on the GPU: correctness, then timings", env)
    try:
        import fla  # noqa: F401
        has_fla = True
    except ImportError:
        has_fla = False
        print("note: fla is not installed; its checks and timings are skipped\n")

    # Most telling first: correctness, our kernels against fla and SDPA, decode; the slow baselines last.
    checks = run_checks(budget, has_fla) if "checks" in args.parts else []
    rows, decode = [], []
    if "timings" in args.parts:
        print("\ntimings (do_bench medians)")
        rows = run_timings(budget, PRIMARY, has_fla, peak)
    if "decode" in args.parts:
        print("\ndecode (wall clock per call)")
        for B in DECODE_BATCHES:
            decode += budget.attempt(f"decode B={B}", functools.partial(decode_rows, B, peak, has_fla)) or []
    model: list[dict[str, Any]] = []
    if "model" in args.parts:
        print("\ndefault model: decode and one online learning step")
        model = budget.attempt("default model", default_model_rows, limit_s=180.0) or []
    if "timings" in args.parts:
        rows += run_timings(budget, SECONDARY, has_fla, peak)

    print_tables(rows, decode)
    if model:
        print()
        print(format_table(["default model", "dtype", "tok/s", "TTFT ms", "ms", "greedy = fp32", "note"],
                           [[r["part"], r["dtype"], r["tok_per_s"], r.get("ttft_ms"), r.get("ms"),
                             r.get("greedy_matches_fp32"), r["note"]] for r in model]))
    if args.json:
        write_json(args.json, {**env, "checks": checks, "timings": rows, "decode": decode, "model": model,
                               "failures": budget.failures})
    passed = sum(r["ok"] for r in checks)
    print(f"\ncorrectness: {passed}/{len(checks)} tensors within limits; {len(budget.failures)} parts failed "
          f"or skipped{': ' if budget.failures else ''}" + "; ".join(budget.failures))
    print(summary(rows))
    return 0 if passed == len(checks) and not budget.failures else 1


if __name__ == "__main__":
    sys.exit(main())
