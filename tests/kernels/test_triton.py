"""Tier 3 of kernels.md: the triton face under TRITON_INTERPRET=1 against the float64 naive oracle.

Outputs, final states and the gradient of every input and of every initial-state tensor are
compared (random upstream gradients for o and for each final state). Every `torch.empty` made
during a call is NaN-filled, so an output the kernels never write fails. fp32 and fp16 only: the
interpreter computes bf16 wrongly. Shapes stay small because the interpreter pays per program and
per op, and the kernels walk tokens one by one.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

pytest.importorskip("triton")
if os.environ.get("TRITON_INTERPRET", "0") in ("", "0") and not torch.cuda.is_available():
    pytest.skip("triton needs a GPU or TRITON_INTERPRET=1 set before import", allow_module_level=True)

from kernels._state import MemoryState, Rule  # noqa: E402
from kernels.core.naive import linear_memory_naive  # noqa: E402
from kernels.core.triton import linear_memory_triton  # noqa: E402
from kernels.testing import assert_close, rms_ratio  # noqa: E402
from tests.kernels.cases import make_inputs, make_state  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
RULES = {
    f"{error}{'-momentum' if momentum else ''}": Rule(error, momentum)
    for error in ("exact", "chunk_start", "decay") for momentum in (False, True)
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
# rms-ratio thresholds (kernels.md tiers 2-3, fla's fp16 row)
TOLERANCES = {
    torch.float32: {"out": 1e-5, "grad": 1e-4, "scalar_grad": 1e-4},
    torch.float16: {"out": 5e-3, "grad": 8e-3, "scalar_grad": 2e-2},
}
SCALARS = ("log_decay", "eta", "momentum")


@pytest.fixture(autouse=True)
def poison_empty(monkeypatch):
    """NaN-fill every floating tensor from torch.empty / empty_like, as fla's conftest does."""
    empty, empty_like = torch.empty, torch.empty_like

    def poisoned(make):
        def wrapper(*args, **kwargs):
            t = make(*args, **kwargs)
            if t.is_floating_point():
                t.fill_(math.nan)
            return t
        return wrapper

    monkeypatch.setattr(torch, "empty", poisoned(empty))
    monkeypatch.setattr(torch, "empty_like", poisoned(empty_like))


def _leaves(inputs: dict, state: MemoryState | None, dtype: torch.dtype | None):
    """Fresh leaf tensors (q, k, v in ``dtype``, scalars and states as given, or all in ``dtype``)."""
    def leaf(t: torch.Tensor | None, cast: bool) -> torch.Tensor | None:
        if t is None:
            return None
        t = t.detach().to(DEVICE)
        return (t.to(dtype) if cast and dtype is not None else t.clone()).requires_grad_()

    xs = {name: leaf(t, name not in SCALARS or dtype == torch.float64) for name, t in inputs.items()}
    st = None
    if state is not None:
        st = MemoryState(*(leaf(t, dtype == torch.float64) for t in state[:3]),
                         position=None if state.position is None else state.position.to(DEVICE))
    return xs, st


def _run(face, rule, inputs, state, dtype, grads, **kwargs):
    """Run a face, back-propagate the fixed upstream gradients, return outputs and input grads."""
    xs, st = _leaves(inputs, state, dtype)
    o, final = face(*xs.values(), rule=rule, initial_state=st, **kwargs)
    outs = {"o": o}
    if final is not None:
        outs |= {f"final.{n}": t for n, t in final._asdict().items() if t is not None and n != "position"}
    if not grads:
        return outs, final, {}
    loss = sum((outs[name].double() * g.to(DEVICE)).sum() for name, g in grads.items() if name in outs)
    leaves = {name: t for name, t in xs.items() if t is not None}
    if st is not None:
        leaves |= {f"initial.{n}": t for n, t in st._asdict().items() if t is not None and n != "position"}
    got = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return outs, final, {f"d{name}": g for name, g in zip(leaves, got)}


def check_against_naive(rule: Rule, inputs: dict, state: MemoryState | None, dtype: torch.dtype, *,
                        output_final_state: bool = True, **kwargs) -> dict[str, float]:
    """The triton face in ``dtype`` vs the naive face in float64 on the same (rounded) inputs."""
    inputs = {n: None if t is None else (t if n in SCALARS else t.to(dtype)) for n, t in inputs.items()}
    B, T, H = inputs["v"].shape[:3]
    K, V = inputs["k"].shape[-1], inputs["v"].shape[-1]
    N = B if kwargs.get("cu_seqlens") is None else kwargs["cu_seqlens"].numel() - 1
    gen = torch.Generator().manual_seed(7)
    # upstream gradients, representable in the dtype of what they multiply (o: the input dtype)
    grads = {"o": torch.randn(B, T, H, V, generator=gen, dtype=torch.float64).to(dtype).double()}
    if output_final_state:
        grads |= {f"final.{name}": torch.randn(N, H, K, V, generator=gen, dtype=torch.float64)
                  for name in ("memory", "momentum", "anchor")}
    ref_outs, ref_final, ref_grads = _run(linear_memory_naive, rule, inputs, state, torch.float64, grads,
                                          output_final_state=output_final_state, **kwargs)
    outs, final, got_grads = _run(linear_memory_triton, rule, inputs, state, None, grads,
                                  output_final_state=output_final_state, **kwargs)

    tol = TOLERANCES[dtype]
    assert outs["o"].dtype == dtype
    assert outs.keys() == ref_outs.keys()
    for name in ref_outs:
        if name != "o":
            assert outs[name].dtype == torch.float32, name
        assert_close(name, ref_outs[name], outs[name], tol["out"])
    if output_final_state and ref_final.position is not None:
        assert torch.equal(ref_final.position.cpu(), final.position.cpu())
    for name in ref_grads:
        scalar = name[1:] in SCALARS
        assert got_grads[name] is not None, name
        assert_close(name, ref_grads[name], got_grads[name], tol["scalar_grad" if scalar else "grad"])
    return {name: rms_ratio(ref, got) for name, ref, got in
            [(n, ref_outs[n], outs[n]) for n in ref_outs] + [(n, ref_grads[n], got_grads[n]) for n in ref_grads]}


# (B, T, H, K, V, initial state): ragged T (one or two checkpoint segments of 64 tokens),
# non-power-of-two K/V, V = 40 spans two 32-column blocks (partial sums over V blocks).
SHAPES = [(1, 100, 1, 48, 40, True), (2, 63, 2, 60, 24, False)]
CASES = [
    pytest.param(rule, shape, dt,
                 id=f"B{shape[0]}-T{shape[1]}-H{shape[2]}-K{shape[3]}-V{shape[4]}"
                    f"{'-state' if shape[5] else ''}-{rule}-{dt}")
    for shape in SHAPES for rule in RULES for dt in DTYPES
]


@pytest.mark.parametrize("rule_name,shape,dtype_name", CASES)
def test_triton_matches_naive(rule_name, shape, dtype_name):
    B, T, H, K, V, with_state = shape
    rule = RULES[rule_name]
    inputs = make_inputs(rule, B, T, H, K, V, dtype=torch.float32)
    state = make_state(rule, B, H, K, V, dtype=torch.float32, max_position=40) if with_state else None
    check_against_naive(rule, inputs, state, DTYPES[dtype_name], chunk_size=16)


@pytest.mark.parametrize("rule_name", list(RULES))
def test_triton_varlen(rule_name):
    """Packed sequences (one empty, one exactly a checkpoint segment, one across a boundary) from an
    initial state; chunk_start rules start mid-chunk (positions 35, 26, 36, 11 with chunks of 16)."""
    rule = RULES[rule_name]
    cu_seqlens = torch.tensor([0, 15, 15, 79, 150], dtype=torch.int32)  # lengths 15, 0, 64, 71
    N, H, K, V = 4, 1, 32, 20
    inputs = make_inputs(rule, 1, 150, H, K, V, dtype=torch.float32)
    state = make_state(rule, N, H, K, V, dtype=torch.float32, max_position=40)
    check_against_naive(rule, inputs, state, torch.float32, chunk_size=16, cu_seqlens=cu_seqlens.to(DEVICE))


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("rule_name", ["exact-momentum", "chunk_start"])
def test_triton_qk_l2norm(rule_name, dtype_name):
    rule = RULES[rule_name]
    inputs = make_inputs(rule, 1, 40, 2, 40, 24, dtype=torch.float32, unit_keys=False)
    inputs["k"] = inputs["k"] * 3.0
    state = make_state(rule, 1, 2, 40, 24, dtype=torch.float32, max_position=9)
    check_against_naive(rule, inputs, state, DTYPES[dtype_name], chunk_size=8, use_qk_l2norm=True)


STRESS = {
    "eta-near-1": dict(eta_max=1.0),
    "alpha-near-0": dict(alpha_min=0.0, alpha_max=0.05),
    "alpha-near-1": dict(alpha_min=0.999, alpha_max=1.0),
    "unnormalised-keys": dict(unit_keys=False, eta_max=1.0),
}


@pytest.mark.parametrize("regime", list(STRESS))
@pytest.mark.parametrize("rule_name", ["exact", "exact-momentum", "chunk_start-momentum"])
def test_triton_stress_fp32(rule_name, regime):
    rule = RULES[rule_name]
    inputs = make_inputs(rule, 1, 80, 1, 32, 16, dtype=torch.float32, **STRESS[regime])
    if regime == "unnormalised-keys":
        inputs["k"] = inputs["k"] * 1.5  # ‖k‖ around 1.5: η‖k‖² well past 1
    state = make_state(rule, 1, 1, 32, 16, dtype=torch.float32, max_position=5)
    check_against_naive(rule, inputs, state, torch.float32, chunk_size=16)


def test_triton_without_final_state():
    """Only o is returned; its gradient alone reaches the inputs and the initial state. The first
    token starts a chunk (position 32), so the initial anchor is replaced at once: zero gradient."""
    rule = RULES["chunk_start-momentum"]
    inputs = make_inputs(rule, 1, 70, 1, 24, 16, dtype=torch.float32)
    state = make_state(rule, 1, 1, 24, 16, dtype=torch.float32)._replace(position=torch.tensor([32]))
    check_against_naive(rule, inputs, state, torch.float32, chunk_size=16, output_final_state=False)


def test_triton_under_no_grad():
    """Inputs that require grad, called under no_grad: the plain forward, nothing to back-propagate."""
    rule = RULES["exact-momentum"]
    inputs = make_inputs(rule, 1, 30, 1, 16, 16, dtype=torch.float32)
    xs = [t.requires_grad_() for t in inputs.values()]
    with torch.no_grad():
        o, final = linear_memory_triton(*xs, rule=rule, output_final_state=True)
    assert o.grad_fn is None
    ref, ref_final = linear_memory_naive(*(t.detach().double() for t in xs), rule=rule, output_final_state=True)
    assert_close("o", ref, o, 1e-5)
    assert_close("final.memory", ref_final.memory, final.memory, 1e-5)
