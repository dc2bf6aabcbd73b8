"""HopeLM behaviour: causality, recurrent = full forward, gradients reach every memory, isolation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from personal_nl import HopeLM
from personal_nl.config import CMSLevel, HopeConfig, TitansConfig, tiny
from personal_nl.titans import SelfModifyingTitans

MIXERS = ["titans", "attention", "hybrid"]


def model(mixer: str, **titans) -> HopeLM:
    cfg = tiny(mixer)
    if titans:
        cfg = dataclasses.replace(cfg, titans=dataclasses.replace(cfg.titans, **titans))
    torch.manual_seed(0)
    return HopeLM(cfg).double()


def ids(B=2, T=37, seed=0):
    return torch.randint(0, 259, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mixer", MIXERS)
def test_perturbing_token_t_never_changes_earlier_outputs(mixer):
    m, x = model(mixer), ids()
    with torch.no_grad():
        base = m(x).logits
        for t in (0, 7, 20, 36):
            y = x.clone()
            y[:, t] = (y[:, t] + 1) % 259
            changed = m(y).logits
            assert torch.equal(base[:, :t], changed[:, :t]), f"position < {t} changed"
            assert not torch.allclose(base[:, t:], changed[:, t:])


def test_snapshot_read_ignores_same_chunk_tokens():
    """Under the paper's snapshot read a token cannot reach later tokens of its chunk through memory."""
    cfg = dataclasses.replace(tiny("titans"), titans=TitansConfig(chunk_mem=8, chunk_other=8, conv_width=1))
    torch.manual_seed(0)
    mixer = SelfModifyingTitans(cfg).double()
    x = torch.randn(1, 24, cfg.d_model, dtype=torch.float64)
    with torch.no_grad():
        base, _ = mixer(x, None, 0)
        y = x.clone()
        y[:, 10] += 1.0  # chunk 1 covers positions 8..15
        changed, _ = mixer(y, None, 0)
    same_chunk = [8, 9, 11, 12, 13, 14, 15]
    assert torch.equal(base[:, same_chunk], changed[:, same_chunk])
    assert not torch.allclose(base[:, 16:], changed[:, 16:])  # the next chunk sees the write


@pytest.mark.parametrize("mixer", MIXERS)
def test_incremental_decode_equals_full_forward(mixer):
    m, x = model(mixer), ids()
    with torch.no_grad():
        full = m(x).logits
        state, pieces = None, []
        for a, b in [(0, 1), (1, 6), (6, 13), (13, 14), (14, 30), *[(t, t + 1) for t in range(30, 37)]]:
            out = m(x[:, a:b], state)
            state, pieces = out.state, pieces + [out.logits]
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=0, atol=1e-12)
    assert state.position == 37


@pytest.mark.parametrize("titans", [{}, {"memory": "linear"}, {"memory": "linear", "intra_chunk_read": "dual_form",
                                                                 "dgd_mode": "delta_only", "momentum": False}])
def test_chunked_layer_equals_per_token_recurrence_fp64(monkeypatch, titans):
    """The chunk kernels over whole segments equal the naive per-token oracle fed one token at a time."""
    m, x = model("titans", **titans), ids(T=29)
    with torch.no_grad():
        monkeypatch.setenv("HOPE_KERNEL_FACE", "chunk")
        full = m(x).logits
        monkeypatch.setenv("HOPE_KERNEL_FACE", "naive")
        state, pieces = None, []
        for t in range(29):
            out = m(x[:, t:t + 1], state)
            state, pieces = out.state, pieces + [out.logits]
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=0, atol=1e-12)


@pytest.mark.parametrize("memory", ["mlp", "linear"])
def test_outer_gradients_reach_every_memory_and_gate(memory):
    m = model("titans", memory=memory)
    x = ids(T=40)
    out = m(x, targets=x)
    out.loss.backward()
    for b, block in enumerate(m.blocks):
        mixer = block.mixer
        named = {f"theta0.{k}": p for k, p in mixer.theta0.items()}
        named.update({"q_proj": mixer.q_proj.weight, "conv": mixer.conv.weight, "eta_bias": mixer.eta_bias,
                      "alpha_bias": mixer.alpha_bias, "momentum_gate": mixer.momentum_gate.weight,
                      "gate": mixer.gate.weight, "o_proj": mixer.o_proj.weight})
        for name, p in named.items():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"block {b}: no outer gradient reaches {name}"
        # every one of the five memories' θ₀ (stacked along the head axis) gets its own gradient
        H = m.cfg.n_heads
        stacked = mixer.theta0["in"] if memory == "mlp" else mixer.theta0["vec"]
        per_memory = stacked.grad.abs().reshape(-1, H, *stacked.shape[1:]).flatten(1).sum(1)
        assert (per_memory > 0).all(), f"block {b}: a memory's θ₀ gets no gradient: {per_memory.tolist()}"


@pytest.mark.parametrize("mixer", MIXERS)
def test_batch_of_b_equals_b_single_runs(mixer):
    m, x = model(mixer), ids(B=3)
    with torch.no_grad():
        batched = m(x).logits
        for b in range(3):
            torch.testing.assert_close(m(x[b:b + 1]).logits, batched[b:b + 1], rtol=0, atol=1e-12)


def test_attention_past_max_seq_len_is_refused():
    m = model("attention")
    with pytest.raises(ValueError, match="exceed max_seq_len 256"):
        m(ids(T=257))


def test_config_round_trips_through_json_and_refuses_nonsense():
    cfg = tiny("hybrid")
    assert HopeConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="one entry per layer"):
        dataclasses.replace(cfg, mixers=("titans",))
    with pytest.raises(ValueError, match="one a multiple of the other"):
        dataclasses.replace(cfg, titans=TitansConfig(chunk_mem=6, chunk_other=4))
    with pytest.raises(ValueError, match="dual_form"):
        dataclasses.replace(cfg, titans=TitansConfig(intra_chunk_read="dual_form"))
    with pytest.raises(ValueError, match="CMS level needs"):
        dataclasses.replace(cfg, cms=((CMSLevel(period=0, lr=0.1, hidden=8),),) * 2)
    with pytest.raises(ValueError, match="not a HopeConfig"):
        HopeConfig.from_json('{"d_model": 3}')
