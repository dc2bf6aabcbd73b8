"""The public ops: step-decode equals the chunk call, state formats, dispatch and validation."""

from __future__ import annotations

import pytest
import torch

import kernels
from kernels.dispatch import choose_face
from kernels.testing import assert_close
from tests.kernels.cases import RULES, make_inputs

B, T, H, K, V = 2, 40, 2, 8, 6


def step_args(inputs, t):
    return {n: None if x is None else x[:, t] for n, x in inputs.items()}


def test_gated_delta_rule_step_loop_equals_chunk_call():
    inputs = make_inputs(RULES["delta"], B, T, H, K, V)
    del inputs["momentum"]
    o, final = kernels.gated_delta_rule(**inputs, output_final_state=True, chunk_size=16, use_qk_l2norm=True)
    state = torch.zeros(B, H, K, V, dtype=torch.float64)
    for t in range(T):
        o_t, state = kernels.gated_delta_rule_step(**step_args(inputs, t), state=state, use_qk_l2norm=True)
        assert_close(f"o[{t}]", o[:, t], o_t, 1e-12)
    assert_close("state", final, state, 1e-12)


def test_decay_write_step_loop_equals_chunk_call():
    inputs = make_inputs(RULES["decay"], B, T, H, K, V)
    del inputs["momentum"]
    o, final = kernels.decay_write(**inputs, output_final_state=True, chunk_size=16)
    state = torch.zeros(B, H, K, V, dtype=torch.float64)
    for t in range(T):
        o_t, state = kernels.decay_write_step(**step_args(inputs, t), state=state)
        assert_close(f"o[{t}]", o[:, t], o_t, 1e-12)
    assert_close("state", final, state, 1e-12)


def test_momentum_prefill_then_step_equals_one_call():
    inputs = make_inputs(RULES["delta-momentum"], B, T, H, K, V)
    o, final = kernels.momentum_delta_rule(**inputs, output_final_state=True, chunk_size=16)
    prefill = {n: x[:, :25] for n, x in inputs.items()}
    o_pre, state = kernels.momentum_delta_rule(**prefill, output_final_state=True, chunk_size=16)
    assert state.shape == (B, H, 2, K, V)
    assert_close("prefill o", o[:, :25], o_pre, 1e-12)
    for t in range(25, T):
        o_t, state = kernels.momentum_delta_rule_step(**step_args(inputs, t), state=state)
        assert_close(f"o[{t}]", o[:, t], o_t, 1e-12)
    assert_close("state", final, state, 1e-12)


@pytest.mark.parametrize("with_momentum", [False, True])
def test_chunk_start_decode_reproduces_chunk_semantics(with_momentum):
    """Prefill ending mid-chunk, then token-by-token decode, equals one chunked call."""
    inputs = make_inputs(RULES["chunkstart-momentum"], B, T, H, K, V, eta_max=1.0)
    if not with_momentum:
        inputs["momentum"] = None
    o, final = kernels.chunk_start_delta_rule(**inputs, chunk_size=8, output_final_state=True)
    prefill = {n: None if x is None else x[:, :13] for n, x in inputs.items()}
    _, state = kernels.chunk_start_delta_rule(**prefill, chunk_size=8, output_final_state=True)
    assert state.position.tolist() == [13, 13]
    for t in range(13, T):
        o_t, state = kernels.chunk_start_delta_rule_step(**step_args(inputs, t), state=state, chunk_size=8)
        assert_close(f"o[{t}]", o[:, t], o_t, 1e-12)
    assert_close("memory", final.memory, state.memory, 1e-12)
    assert_close("anchor", final.anchor, state.anchor, 1e-12)


def test_zero_momentum_is_the_gated_delta_rule():
    inputs = make_inputs(RULES["delta-momentum"], B, T, H, K, V)
    inputs["momentum"] = torch.zeros_like(inputs["momentum"])
    o_m, s_m = kernels.momentum_delta_rule(**inputs, output_final_state=True)
    del inputs["momentum"]
    o, s = kernels.gated_delta_rule(**inputs, output_final_state=True)
    assert_close("o", o, o_m, 1e-13)
    assert_close("state", s, s_m[:, :, 0], 1e-13)


def test_qk_l2norm_flag_equals_normalising_first():
    inputs = make_inputs(RULES["delta"], B, T, H, K, V, unit_keys=False)
    del inputs["momentum"]
    o_flag, _ = kernels.gated_delta_rule(**inputs, use_qk_l2norm=True)
    normed = dict(inputs, q=kernels._state.l2norm(inputs["q"]), k=kernels._state.l2norm(inputs["k"]))
    o_pre, _ = kernels.gated_delta_rule(**normed)
    assert_close("o", o_pre, o_flag, 1e-13)


def test_every_face_gives_the_same_answer_through_the_dispatcher(monkeypatch):
    inputs = make_inputs(RULES["delta"], B, T, H, K, V)
    del inputs["momentum"]
    monkeypatch.setenv("HOPE_KERNEL_FACE", "naive")
    o_naive, _ = kernels.gated_delta_rule(**inputs)
    monkeypatch.setenv("HOPE_KERNEL_FACE", "chunk")
    o_chunk, _ = kernels.gated_delta_rule(**inputs)
    assert_close("o", o_naive, o_chunk, 1e-12)


def test_face_choice(monkeypatch):
    monkeypatch.delenv("HOPE_KERNEL_FACE", raising=False)
    assert choose_face(None, torch.device("cpu")) == "chunk"
    assert choose_face("naive", torch.device("cpu")) == "naive"
    monkeypatch.setenv("HOPE_KERNEL_FACE", "triton")
    assert choose_face(None, torch.device("cpu")) == "triton"
    assert choose_face("chunk", torch.device("cpu")) == "chunk"
    monkeypatch.setenv("HOPE_KERNEL_FACE", "fast")
    with pytest.raises(ValueError, match=r"\$HOPE_KERNEL_FACE must be one of naive, chunk, triton, got 'fast'"):
        choose_face(None, torch.device("cpu"))


def _good():
    inputs = make_inputs(RULES["delta"], 1, 10, H, K, V, dtype=torch.float32)
    del inputs["momentum"]
    return inputs


@pytest.mark.parametrize("mutate,message", [
    (lambda a: a.update(k=a["k"][..., :-1]),
     r"k must have shape \[B, T, H, K\] = \[1, 10, 2, 8\], got \[1, 10, 2, 7\]"),
    (lambda a: a.update(eta=a["eta"][:, :5]), r"eta must have shape \[B, T, H\]"),
    (lambda a: a.update(q=a["q"][0]), r"q must be \[B, T, H, K\], got 3 dims"),
    (lambda a: a.update(v=a["v"].double()), r"q, k, v must share a dtype"),
    (lambda a: a.update(q=a["q"].long(), k=a["k"].long(), v=a["v"].long()), r"q must be a floating tensor"),
    (lambda a: a.update(cu_seqlens=torch.tensor([0, 4, 9])), r"cu_seqlens must rise from 0 to T=10"),
    (lambda a: a.update(cu_seqlens=torch.tensor([0.0, 10.0])), r"cu_seqlens must be a 1-D int32/int64"),
    (lambda a: a.update(initial_state=torch.zeros(2, H, K, V)), r"initial_state.memory must have shape"),
])
def test_bad_arguments_are_refused_by_name(mutate, message):
    args = _good()
    mutate(args)
    with pytest.raises(ValueError, match=message):
        kernels.gated_delta_rule(**args)


def test_missing_momentum_and_varlen_batch_are_refused():
    inputs = make_inputs(RULES["delta-momentum"], 2, 10, H, K, V)
    with pytest.raises(ValueError, match="this rule needs momentum"):
        kernels.momentum_delta_rule(**dict(inputs, momentum=None))
    with pytest.raises(ValueError, match="with cu_seqlens the batch size must be 1"):
        kernels.momentum_delta_rule(**inputs, cu_seqlens=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"with momentum the state must be \[N, H, 2, K, V\]"):
        kernels.momentum_delta_rule(**inputs, initial_state=torch.zeros(2, H, K, V))


def test_decay_write_with_momentum_step_loop_equals_chunk_call():
    inputs = make_inputs(RULES["decay-momentum"], B, T, H, K, V)
    o, final = kernels.decay_write(**inputs, output_final_state=True, chunk_size=16)
    assert final.shape == (B, H, 2, K, V)
    state = torch.zeros(B, H, 2, K, V, dtype=torch.float64)
    for t in range(T):
        o_t, state = kernels.decay_write_step(**step_args(inputs, t), state=state)
        assert_close(f"o[{t}]", o[:, t], o_t, 1e-12)
    assert_close("state", final, state, 1e-12)
