"""Online CMS learning: cadence, streaming = whole, tier B forward = tier A oracle, it actually learns."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from personal_nl import HopeLM, learn
from personal_nl.cms import DELTA_NAMES
from personal_nl.config import CMSLevel, tiny
from personal_nl.tokenizer import ByteTokenizer


def model(mixer="attention", levels=None, seed=0) -> HopeLM:
    cfg = tiny(mixer)
    if levels is not None:
        cfg = dataclasses.replace(cfg, cms=(levels,) * cfg.n_layers)
    torch.manual_seed(seed)
    return HopeLM(cfg).double()


def ids(B=2, T=40, seed=0):
    return torch.randint(0, 259, (B, T), generator=torch.Generator().manual_seed(seed))


def deltas(state: learn.LearnState):
    return [[None if d is None else {n: t.clone() for n, t in d.items()} for d in levels] for levels in state.model.cms]


def test_each_level_changes_exactly_at_multiples_of_its_period():
    m = model(levels=(CMSLevel(period=4, lr=0.05, hidden=16), CMSLevel(period=12, lr=0.05, hidden=16)))
    x = ids(T=30)
    state, before = learn.start(m), None
    for t in range(30):
        _, _, state = learn.online_forward(m, x[:, t:t + 1], state)
        state = learn.detach(state)
        now = deltas(state)
        for b in range(m.cfg.n_layers):
            for i, period in enumerate((4, 12)):
                if before is None or before[b][i] is None:
                    changed = now[b][i] is not None and any(now[b][i][n].abs().sum() > 0 for n in DELTA_NAMES)
                else:
                    changed = any(not torch.equal(now[b][i][n], before[b][i][n]) for n in DELTA_NAMES)
                assert changed == ((t + 1) % period == 0), f"block {b} level {i} at token {t + 1}"
        before = now


@pytest.mark.parametrize("mixer", ["attention", "titans"])
def test_learning_from_a_stream_equals_learning_from_it_whole(mixer):
    m, x = model(mixer), ids()
    whole_logits, _, whole = learn.online_forward(m, x, learn.start(m))
    state, pieces = learn.start(m), []
    for a, b in [(0, 3), (3, 11), (11, 12), (12, 29), (29, 40)]:
        logits, _, state = learn.online_forward(m, x[:, a:b], state)
        state = learn.detach(state)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), whole_logits, rtol=0, atol=1e-12)
    for got, ref in zip(deltas(state), deltas(whole)):
        for g, r in zip(got, ref):
            for n in DELTA_NAMES:
                torch.testing.assert_close(g[n], r[n], rtol=0, atol=1e-12)


def test_with_learning_rates_at_zero_nothing_changes():
    frozen = (CMSLevel(period=8, lr=0.0, hidden=48), CMSLevel(period=16, lr=0.0, hidden=48))
    m, x = model(levels=frozen), ids()
    logits, _, state = learn.online_forward(m, x, learn.start(m))
    assert torch.equal(logits, m(x).logits)  # bit for bit: θ₀ is used as is
    assert all(d is None for levels in state.model.cms for d in levels)


def test_tier_b_forward_equals_tier_a_and_tier_a_gradient_matches_finite_differences():
    m, x = model(levels=(CMSLevel(period=4, lr=0.5, hidden=8),)), ids(B=1, T=12)
    logits_b, loss_b, _ = learn.online_forward(m, x, learn.start(m), targets=x)
    logits_a, loss_a, _ = learn.online_forward(m, x, learn.start(m), targets=x, differentiable=True)
    torch.testing.assert_close(logits_a, logits_b, rtol=0, atol=1e-12)
    weight = m.blocks[0].cms.levels[0].mlp.up
    (grad_a,) = torch.autograd.grad(loss_a, weight)
    (grad_b,) = torch.autograd.grad(loss_b, weight)
    direction = torch.randn(weight.shape, dtype=weight.dtype, generator=torch.Generator().manual_seed(1))
    eps = 1e-5
    with torch.no_grad():
        weight += eps * direction
        up = learn.online_forward(m, x, learn.start(m), targets=x)[1]
        weight -= 2 * eps * direction
        down = learn.online_forward(m, x, learn.start(m), targets=x)[1]
        weight += eps * direction
    numeric = (up - down) / (2 * eps)
    assert abs((grad_a * direction).sum() - numeric) < 1e-6 * max(1.0, abs(numeric))
    assert abs((grad_b * direction).sum() - numeric) > 1e-4 * abs(numeric)  # tier B drops the through-update path


def test_reading_a_passage_lowers_its_loss_and_moves_the_answer_toward_the_fact():
    tok = ByteTokenizer()
    m = model(levels=(CMSLevel(period=16, lr=0.05, hidden=48),), seed=3)
    fact = torch.tensor([tok.encode("The secret code of Zorblat is 7391. " * 4)])
    loss_before = torch.nn.functional.cross_entropy(m(fact).logits[0, :-1], fact[0, 1:])
    state = learn.start(m)
    for _ in range(3):
        _, _, state = learn.online_forward(m, fact, learn.start(m, state.model._replace(
            position=0, mixers=(None,) * m.cfg.n_layers)))
        state = learn.detach(state)
    fresh = state.model._replace(position=0, mixers=(None,) * m.cfg.n_layers)
    loss_after = torch.nn.functional.cross_entropy(m(fact, fresh).logits[0, :-1], fact[0, 1:])
    assert loss_after < loss_before - 0.1
    question = torch.tensor([tok.encode("The secret code of Zorblat is ")])
    digit = tok.encode("7")[0]
    p_before = m(question).logits[0, -1].softmax(-1)[digit]
    p_after = m(question, fresh).logits[0, -1].softmax(-1)[digit]
    assert p_after > p_before


def test_learning_keeps_sequences_of_a_batch_apart():
    m, x = model(), ids(B=3)
    logits, _, state = learn.online_forward(m, x, learn.start(m))
    for b in range(3):
        one_logits, _, one = learn.online_forward(m, x[b:b + 1], learn.start(m))
        torch.testing.assert_close(one_logits, logits[b:b + 1], rtol=0, atol=1e-10)
        torch.testing.assert_close(one.model.cms[0][0]["up"], state.model.cms[0][0]["up"][b:b + 1],
                                   rtol=0, atol=1e-10)
