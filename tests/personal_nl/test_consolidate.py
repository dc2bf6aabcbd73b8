"""Sleep's slow level on a tiny attention model: factors start at exactly zero, training lowers the
rehearsal loss, is repeatable bit for bit, stops cleanly, and never touches its inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from personal_nl.config import tiny
from personal_nl.consolidate import Example, SleepConfig, _Runner, consolidate, expand, factor_pairs, init_factors
from personal_nl.model import HopeLM

CONFIG = SleepConfig(layers=(1,), rank=4, lr=5e-2, epochs=8, batch_size=4, replay_weight=0.5)


@pytest.fixture(scope="module")
def model() -> HopeLM:
    torch.manual_seed(0)
    model = HopeLM(tiny("attention")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def rehearsal(n: int = 6, length: int = 24, seed: int = 0) -> list[Example]:
    """Random sequences whose second half is the target, like a question (context) and its answer."""
    gen = torch.Generator().manual_seed(seed)
    return [Example(tuple(torch.randint(0, 259, (length,), generator=gen).tolist()),
                    (False,) * (length // 2) + (True,) * (length - length // 2)) for _ in range(n)]


def replay(n: int = 3, length: int = 32) -> list[list[int]]:
    gen = torch.Generator().manual_seed(9)
    return [torch.randint(0, 259, (length,), generator=gen).tolist() for _ in range(n)]


@torch.no_grad()
def masked_loss(model: HopeLM, factors, examples) -> float:
    state = model.initial_state()._replace(cms=expand(model, factors))
    total = 0.0
    for e in examples:
        ids = torch.tensor([e.ids])
        ce = F.cross_entropy(model(ids, state).logits[0, :-1], ids[0, 1:], reduction="none")
        mask = torch.tensor(e.mask[1:], dtype=torch.float32)
        total += ((ce * mask).sum() / mask.sum()).item()
    return total / len(examples)


def test_expand_of_fresh_factors_is_exactly_zero(model):
    factors = init_factors(model, CONFIG, seed=1)
    assert sorted(factors) == sorted(f"blocks.1.cms.{i}.{n}.{s}" for i in range(2) for n in ("gate", "up", "down")
                                     for s in "uv")
    deltas = expand(model, factors)
    assert all(d is None for d in deltas[0])
    for i, level in enumerate(model.blocks[1].cms.levels):
        for name, w in level.weights().items():
            assert deltas[1][i][name].shape == (1, *w.shape)
            assert torch.count_nonzero(deltas[1][i][name]) == 0
    again = init_factors(model, CONFIG, seed=1)
    assert all(torch.equal(factors[k], again[k]) for k in factors)
    assert not torch.equal(factors["blocks.1.cms.0.up.v"], init_factors(model, CONFIG, seed=2)["blocks.1.cms.0.up.v"])


def test_expand_adds_the_low_rank_product_to_given_deltas(model):
    factors = {k: torch.randn_like(v) for k, v in init_factors(model, CONFIG, seed=1).items()}
    wake = expand(model, {k: torch.randn_like(v) for k, v in factors.items()})
    both = expand(model, factors, wake)
    alone = expand(model, factors)
    for name in ("gate", "up", "down"):
        torch.testing.assert_close(both[1][0][name], wake[1][0][name] + alone[1][0][name])
        expected = factors[f"blocks.1.cms.0.{name}.u"] @ factors[f"blocks.1.cms.0.{name}.v"]
        torch.testing.assert_close(alone[1][0][name][0], expected)


def test_training_path_matches_the_model_with_expanded_deltas(model):
    """consolidate runs blocks with θ₀ + U @ V swapped in and the early blocks cached; the logits must
    be the model's own with the same deltas."""
    factors = {k: torch.randn_like(v) * 0.1 for k, v in init_factors(model, CONFIG, seed=1).items()}
    ids = torch.tensor([rehearsal(1)[0].ids])
    runner = _Runner(model, 1)
    ours = runner.logits(runner.prefix(ids), factor_pairs(model, factors))
    reference = model(ids, model.initial_state()._replace(cms=expand(model, factors))).logits
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_consolidate_lowers_rehearsal_loss_and_reports_progress(model):
    examples = rehearsal()
    factors = init_factors(model, CONFIG, seed=0)
    seen = []
    trained = consolidate(model, factors, examples, replay(), CONFIG, seed=0,
                          on_progress=lambda d, t: seen.append((d, t)))
    assert masked_loss(model, trained, examples) < masked_loss(model, factors, examples) - 0.1
    assert seen[0] == (0, 16) and seen[-1] == (16, 16) and len(seen) == 17  # 6 examples, batch 4, 8 epochs


def test_same_inputs_give_bit_identical_factors(model):
    examples, rep = rehearsal(), replay()
    factors = init_factors(model, CONFIG, seed=0)
    a = consolidate(model, factors, examples, rep, CONFIG, seed=5)
    b = consolidate(model, factors, examples, rep, CONFIG, seed=5)
    c = consolidate(model, factors, examples, rep, CONFIG, seed=6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)  # the seed orders the batches


def test_interrupted_sleep_returns_none_and_changes_nothing(model):
    factors = init_factors(model, CONFIG, seed=0)
    before = {k: v.clone() for k, v in factors.items()}
    params = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    assert consolidate(model, factors, rehearsal(), replay(), CONFIG, seed=0, should_stop=stop_after_two) is None
    assert all(torch.equal(before[k], factors[k]) for k in factors)
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    trained = consolidate(model, factors, rehearsal(), replay(), CONFIG, seed=0)
    assert all(torch.equal(before[k], factors[k]) for k in factors)  # a finished sleep copies too
    assert any(not torch.equal(before[k], trained[k]) for k in factors)


def test_replay_term_keeps_replayed_text_closer_to_the_base(model):
    examples, rep = rehearsal(), replay()
    factors = init_factors(model, CONFIG, seed=0)
    free = consolidate(model, factors, examples, rep, SleepConfig(**{**CONFIG.__dict__, "replay_weight": 0.0}), seed=0)
    held = consolidate(model, factors, examples, rep, SleepConfig(**{**CONFIG.__dict__, "replay_weight": 5.0}), seed=0)

    @torch.no_grad()
    def kl_to_base(f) -> float:
        ids = torch.tensor(rep)
        base = F.log_softmax(model(ids).logits, -1)
        ours = F.log_softmax(model(ids, model.initial_state()._replace(cms=expand(model, f))).logits, -1)
        return (base.exp() * (base - ours)).sum(-1).mean().item()

    assert kl_to_base(held) < kl_to_base(free)


def test_wake_distillation_moves_the_factors_toward_the_wake_model(model):
    examples = rehearsal()
    factors = init_factors(model, CONFIG, seed=0)
    gen = torch.Generator().manual_seed(3)
    wake = tuple(tuple({n: torch.randn(1, *w.shape, generator=gen) * 0.3 for n, w in lvl.weights().items()}
                       if b == 1 else None for lvl in block.cms.levels) for b, block in enumerate(model.blocks))
    config = SleepConfig(**{**CONFIG.__dict__, "distill_weight": 1.0, "replay_weight": 0.0})
    plain = consolidate(model, factors, examples, [], SleepConfig(**{**config.__dict__, "distill_weight": 0.0}),
                        seed=0)
    distilled = consolidate(model, factors, examples, [], config, seed=0, wake=wake)

    @torch.no_grad()
    def kl_to_wake(f) -> float:
        ids = torch.tensor([e.ids for e in examples])
        teacher = F.log_softmax(model(ids, model.initial_state()._replace(cms=wake)).logits, -1)
        ours = F.log_softmax(model(ids, model.initial_state()._replace(cms=expand(model, f))).logits, -1)
        return (teacher.exp() * (teacher - ours)).sum(-1).mean().item()

    assert kl_to_wake(distilled) < kl_to_wake(plain)


def test_bad_layers_and_factors_are_refused(model):
    with pytest.raises(ValueError, match="layer 7 does not exist"):
        init_factors(model, SleepConfig(layers=(7,)), seed=0)
    factors = init_factors(model, CONFIG, seed=0)
    with pytest.raises(ValueError, match="U @ V must be"):
        expand(model, {**factors, "blocks.1.cms.0.up.v": torch.zeros(4, 5)})
    with pytest.raises(ValueError, match="needs both"):
        expand(model, {k: v for k, v in factors.items() if k != "blocks.1.cms.0.up.u"})
    with pytest.raises(ValueError, match="is not"):
        expand(model, {"blocks.1.mlp.up.u": torch.zeros(1)})
    with pytest.raises(ValueError, match="rank > 0"):
        SleepConfig(rank=0)
    with pytest.raises(ValueError, match="one mask entry per id"):
        Example((1, 2, 3), (True,))
