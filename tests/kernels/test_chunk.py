"""Tiers 1 and 2 of kernels.md: the chunk face against the float64 per-token oracle."""

from __future__ import annotations

import pytest
import torch

from kernels._state import MemoryState
from kernels.core.chunk import linear_memory_chunk
from kernels.core.naive import linear_memory_naive
from kernels.testing import assert_close
from tests.kernels.cases import RULES, cast, make_inputs, make_state, state_tensors

F64 = 1e-12


def run(face, rule, inputs, **kwargs):
    return face(*inputs.values(), rule=rule, output_final_state=True, **kwargs)


def compare(ref, got, ratio):
    assert_close("o", ref[0], got[0], ratio)
    ref_state, got_state = state_tensors(ref[1]), state_tensors(got[1])
    assert ref_state.keys() == got_state.keys()
    for name in ref_state:
        if name == "position":
            assert torch.equal(ref_state[name], got_state[name])
        else:
            assert_close(f"state.{name}", ref_state[name], got_state[name], ratio)


@pytest.mark.parametrize("rule_name", RULES)
@pytest.mark.parametrize("T", [1, 15, 64, 65, 130])
@pytest.mark.parametrize("K,V", [(4, 4), (16, 60)])
def test_chunk_matches_naive_fp64(rule_name, T, K, V):
    rule = RULES[rule_name]
    inputs = make_inputs(rule, 2, T, 2, K, V)
    state = make_state(rule, 2, 2, K, V, max_position=40)
    ref = run(linear_memory_naive, rule, inputs, initial_state=state, chunk_size=16)
    got = run(linear_memory_chunk, rule, inputs, initial_state=state, chunk_size=16)
    compare(ref, got, F64)


@pytest.mark.parametrize("rule_name", ["delta", "delta-momentum", "decay", "decay-momentum"])
def test_chunk_size_does_not_change_exact_rules(rule_name):
    rule = RULES[rule_name]
    inputs = make_inputs(rule, 1, 150, 2, 16, 16)
    state = make_state(rule, 1, 2, 16, 16)
    results = [run(linear_memory_chunk, rule, inputs, initial_state=state, chunk_size=c) for c in (16, 32, 64)]
    for other in results[1:]:
        compare(results[0], other, F64)


def test_chunk_size_is_semantic_in_chunk_start_mode():
    rule = RULES["chunkstart"]
    inputs = make_inputs(rule, 1, 64, 2, 8, 8, eta_max=1.0)
    o16 = run(linear_memory_chunk, rule, inputs, chunk_size=16)[0]
    o32 = run(linear_memory_chunk, rule, inputs, chunk_size=32)[0]
    assert (o16 - o32).abs().max() > 1e-3  # a different mini-batch is a different model


@pytest.mark.parametrize("rule_name", RULES)
def test_split_and_chain_states(rule_name):
    """Splitting a sequence anywhere and chaining final → initial state changes nothing."""
    rule = RULES[rule_name]
    T = 97
    inputs = make_inputs(rule, 2, T, 2, 8, 12, seed=3)
    whole = run(linear_memory_chunk, rule, inputs, chunk_size=16)
    gen = torch.Generator().manual_seed(7)
    cuts = sorted(torch.randperm(T - 1, generator=gen)[:4].add(1).tolist())
    state, outputs = None, []
    for start, end in zip([0, *cuts], [*cuts, T]):
        piece = {name: None if t is None else t[:, start:end] for name, t in inputs.items()}
        o, state = run(linear_memory_chunk, rule, piece, initial_state=state, chunk_size=16)
        outputs.append(o)
    compare(whole, (torch.cat(outputs, dim=1), state), F64)


@pytest.mark.parametrize("rule_name", RULES)
def test_varlen_equals_per_sequence(rule_name):
    rule = RULES[rule_name]
    lengths = [5, 0, 33, 17, 64]
    inputs = make_inputs(rule, 1, sum(lengths), 2, 8, 6, seed=5)
    state = make_state(rule, len(lengths), 2, 8, 6, max_position=50)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    packed = run(linear_memory_chunk, rule, inputs, initial_state=state, cu_seqlens=cu, chunk_size=16)
    outputs, finals = [], []
    for n, (start, end) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        piece = {name: None if t is None else t[:, start:end] for name, t in inputs.items()}
        one = MemoryState(*(None if t is None else t[n:n + 1] for t in state))
        o, final = run(linear_memory_naive, rule, piece, initial_state=one, chunk_size=16)
        outputs.append(o)
        finals.append(final)
    per_sequence = MemoryState(*(None if f[0] is None else torch.cat(f) for f in zip(*finals)))
    compare((torch.cat(outputs, dim=1), per_sequence), packed, F64)


@pytest.mark.parametrize("rule_name", RULES)
def test_gradcheck(rule_name):
    rule = RULES[rule_name]
    inputs = make_inputs(rule, 1, 11, 1, 3, 2, seed=2)
    state = make_state(rule, 1, 1, 3, 2, max_position=5)
    names = [n for n, t in inputs.items() if t is not None]
    state_names = [n for n in ("memory", "momentum", "anchor") if getattr(state, n) is not None]
    leaves = [inputs[n].clone().requires_grad_() for n in names]
    leaves += [getattr(state, n).clone().requires_grad_() for n in state_names]

    def fn(*tensors):
        given = dict(zip(names, tensors[:len(names)]))
        args = {n: given.get(n) for n in inputs}
        init = state._replace(**dict(zip(state_names, tensors[len(names):])))
        o, final = run(linear_memory_chunk, rule, args, initial_state=init, chunk_size=4)
        return o, *(t for n, t in state_tensors(final).items() if n != "position")

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-8, rtol=1e-6)


STRESS = {
    "eta-near-max": dict(eta_max=1.0),
    "alpha-near-0": dict(alpha_min=1e-4, alpha_max=0.05),
    "alpha-near-1": dict(alpha_min=0.999, alpha_max=1.0),
    "unnormalised-keys": dict(unit_keys=False, eta_max=0.5),
}


@pytest.mark.parametrize("regime", STRESS)
@pytest.mark.parametrize("rule_name", RULES)
def test_fp32_chunk_matches_fp64_oracle(rule_name, regime):
    """Tier 2: float32 outputs and states ≤ 1e-5 relative RMS, gradients ≤ 1e-4."""
    rule = RULES[rule_name]
    inputs64 = make_inputs(rule, 2, 100, 2, 32, 32, seed=11, **STRESS[regime])
    state64 = make_state(rule, 2, 2, 32, 32, max_position=30)
    inputs32 = cast(inputs64, torch.float32)
    state32 = MemoryState(*(t if t is None or not t.is_floating_point() else t.float() for t in state64))

    def forward_backward(inputs, state, face):
        leaves = {n: t.clone().requires_grad_() for n, t in inputs.items() if t is not None}
        args = {n: leaves.get(n) for n in inputs}
        o, final = run(face, rule, args, initial_state=state, chunk_size=32)
        upstream = torch.linspace(-1, 1, o.numel(), dtype=torch.float64).reshape(o.shape)
        loss = (o * upstream.to(o.dtype)).sum() + final.memory.sum()
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return o, final, dict(zip(leaves, grads))

    ref_o, ref_state, ref_grads = forward_backward(inputs64, state64, linear_memory_naive)
    o, state, grads = forward_backward(inputs32, state32, linear_memory_chunk)
    assert o.dtype == torch.float32 and state.memory.dtype == torch.float32
    compare((ref_o, ref_state), (o, state), 1e-5)
    for name in ref_grads:
        assert_close(f"d{name}", ref_grads[name], grads[name], 1e-4)
