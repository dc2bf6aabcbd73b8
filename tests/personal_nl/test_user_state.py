"""The user state: deterministic bytes and hash, exact reload, and short documents still teach."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from personal_nl import HopeLM, learn, user_state
from personal_nl.config import CMSLevel, tiny
from personal_nl.tokenizer import ByteTokenizer

TOK = ByteTokenizer()


def model(seed=0) -> HopeLM:
    cfg = dataclasses.replace(tiny("attention"), cms=((CMSLevel(period=8, lr=0.05, hidden=48),),) * 2)
    torch.manual_seed(seed)
    return HopeLM(cfg)


def read(m, text, deltas=None):
    ids = torch.tensor([TOK.encode(text)])
    state = learn.start(m, user_state.fresh(m, deltas) if deltas is not None else None)
    _, _, state = learn.online_forward(m, ids, state)
    return learn.finish(m, state).model.cms


def test_same_text_same_bytes_and_digest_different_text_different_digest():
    m = model()
    a, b = read(m, "Ana's cat is called Pixel."), read(m, "Ana's cat is called Pixel.")
    assert user_state.to_bytes(a) == user_state.to_bytes(b)
    assert user_state.digest(a) == user_state.digest(b)
    assert user_state.digest(read(m, "Ana's cat is called Pebble.")) != user_state.digest(a)


def test_deltas_loaded_into_a_fresh_model_reproduce_the_logits(tmp_path):
    m = model()
    deltas = read(m, "The meeting moved to Thursday at nine.")
    data = user_state.to_bytes(deltas)
    other = model()  # same θ₀, new process-like instance
    restored = user_state.from_bytes(data, other)
    probe = torch.tensor([TOK.encode("When is the meeting?")])
    with torch.no_grad():
        want = m(probe, user_state.fresh(m, deltas)).logits
        got = other(probe, user_state.fresh(other, restored)).logits
    assert torch.equal(want, got)
    assert not torch.equal(want, m(probe).logits)


def test_a_text_shorter_than_a_segment_still_teaches_when_the_document_ends():
    m = model()
    deltas = read(m, "Hi Bo")  # 5 tokens < segment of 8
    assert user_state.size_bytes(deltas) > 0
    assert any(d is not None and d["up"].abs().sum() > 0 for levels in deltas for d in levels)


def test_bad_bytes_and_foreign_models_are_refused():
    m = model()
    data = user_state.to_bytes(read(m, "some text to learn from"))
    with pytest.raises(ValueError, match="not readable"):
        user_state.from_bytes(data[:-7], m)
    bigger = HopeLM(dataclasses.replace(m.cfg, cms=((CMSLevel(period=8, lr=0.05, hidden=64),),) * 2))
    with pytest.raises(ValueError, match="the model needs"):
        user_state.from_bytes(data, bigger)


def test_default_assignment_turns_on_exactly_the_chosen_layers_and_shares_weights():
    from personal_nl.default_model import with_online_learning

    base = HopeLM(dataclasses.replace(tiny("attention"), n_layers=4, mixers=("attention",) * 4,
                                      cms=((CMSLevel(period=256, lr=0.0, hidden=48),),) * 4))
    learning = with_online_learning(base, layers=(2, 3), lr=3e-4, period=16)
    assert sorted(learn.online_levels(learning)) == [(2, 0), (3, 0)]
    assert learning.blocks[0].cms.levels[0].mlp.up.data_ptr() == base.blocks[0].cms.levels[0].mlp.up.data_ptr()
    assert learning.head.weight is learning.embed.weight
    with pytest.raises(ValueError, match="layer 7 does not exist"):
        with_online_learning(base, layers=(7,))


def test_merged_weights_read_like_the_deltas_and_leave_the_base_alone():
    m = model().eval()
    deltas = read(m, "The meeting moved to Thursday at nine.")
    ids = torch.tensor([TOK.encode("When is the meeting?")])
    base = m(ids).logits
    with_deltas = m(ids, user_state.fresh(m, deltas)).logits
    merged = user_state.merge(m, deltas)
    assert torch.allclose(merged(ids).logits, with_deltas, atol=1e-5)
    assert (merged(ids).logits - base).abs().max() > 1e-5  # the deltas did change something
    assert torch.equal(m(ids).logits, base)  # the shared model is untouched
    assert merged.embed.weight.data_ptr() == m.embed.weight.data_ptr()  # only merged levels are copies
