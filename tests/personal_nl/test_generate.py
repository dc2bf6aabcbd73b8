"""Streaming generation: repeatable, honours stop tokens, and leaves a state that continues the text."""

from __future__ import annotations

import pytest
import torch

from personal_nl import HopeLM
from personal_nl.config import tiny
from personal_nl.generate import Sampling, stream


def run(gen):
    tokens = []
    try:
        while True:
            tokens.append(next(gen))
    except StopIteration as stop:
        return tokens, stop.value


@pytest.fixture(scope="module")
def m():
    torch.manual_seed(0)
    return HopeLM(tiny("hybrid")).double()


def test_greedy_is_deterministic_and_seeded_sampling_repeats(m):
    prompt = [72, 105, 33]
    greedy_a, _ = run(stream(m, prompt, Sampling(max_new_tokens=12)))
    greedy_b, _ = run(stream(m, prompt, Sampling(max_new_tokens=12)))
    assert greedy_a == greedy_b and len(greedy_a) == 12
    hot = Sampling(max_new_tokens=12, temperature=1.5, top_p=0.9, repetition_penalty=1.3, seed=5)
    assert run(stream(m, prompt, hot))[0] == run(stream(m, prompt, hot))[0]
    other = Sampling(max_new_tokens=12, temperature=1.5, top_p=0.9, repetition_penalty=1.3, seed=6)
    assert run(stream(m, prompt, hot))[0] != run(stream(m, prompt, other))[0]


def test_final_state_has_read_the_reply(m):
    prompt = [1, 2, 3, 4]
    reply, state = run(stream(m, prompt, Sampling(max_new_tokens=6)))
    assert state.position == len(prompt) + len(reply)
    follow = torch.tensor([[9, 8]], dtype=torch.long)
    with torch.no_grad():
        continued = m(follow, state).logits
        whole = m(torch.tensor([prompt + reply + [9, 8]])).logits[:, -2:]
    torch.testing.assert_close(continued, whole, rtol=0, atol=1e-10)


def test_stop_token_ends_generation_and_is_not_yielded(m):
    prompt = [5, 6, 7]
    free, _ = run(stream(m, prompt, Sampling(max_new_tokens=8)))
    stopped, state = run(stream(m, prompt, Sampling(max_new_tokens=8, stop_ids=(free[3],))))
    assert stopped == free[:free.index(free[3])]
    assert state.position == len(prompt) + len(stopped)


def test_generation_stops_at_the_context_limit_and_refuses_long_prompts():
    torch.manual_seed(0)
    m = HopeLM(tiny("attention"))
    tokens, state = run(stream(m, list(range(250)), Sampling(max_new_tokens=50)))
    assert len(tokens) == 6 and state.position == 256
    with pytest.raises(ValueError, match="exceeds max_seq_len 256"):
        next(stream(m, list(range(257)), Sampling()))
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0.0)
