"""Streaming generation over the recurrent state: the prompt is read once, then one token at a time."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import torch

from personal_nl.model import HopeLM, State


@dataclass(frozen=True)
class Sampling:
    """How to pick the next token. temperature 0 is greedy; the seed makes sampling repeatable."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop_ids: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0 or self.temperature < 0 or not 0 < self.top_p <= 1 or self.repetition_penalty <= 0:
            raise ValueError("need max_new_tokens ≥ 0, temperature ≥ 0, 0 < top_p ≤ 1, repetition_penalty > 0")


def pick(logits: torch.Tensor, seen: Sequence[int], sampling: Sampling, gen: torch.Generator) -> int:
    """One token from logits [vocab] under the sampling rules."""
    logits = logits.float().clone()
    if sampling.repetition_penalty != 1.0 and seen:
        idx = torch.tensor(sorted(set(seen)), device=logits.device)
        vals = logits[idx]
        logits[idx] = torch.where(vals > 0, vals / sampling.repetition_penalty, vals * sampling.repetition_penalty)
    if sampling.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < sampling.top_p  # the smallest set reaching top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs.cpu(), 1, generator=gen))


@torch.inference_mode()
def stream(model: HopeLM, prompt: Sequence[int], sampling: Sampling = Sampling(),
           state: State | None = None) -> Generator[int, None, State]:
    """Yield new token ids as they are chosen; the generator's return value is the final state, which
    has read every yielded token (not a stop token). Generation ends at max_seq_len for attention."""
    if not prompt:
        raise ValueError("prompt must hold at least one token")
    state = state or model.initial_state()
    limit = model.cfg.max_seq_len if model._has_attention else None
    if limit is not None and state.position + len(prompt) > limit:
        raise ValueError(f"prompt of {len(prompt)} tokens after {state.position} exceeds max_seq_len {limit}")
    gen = torch.Generator().manual_seed(sampling.seed)
    device = model.embed.weight.device
    out = model(torch.tensor([list(prompt)], device=device), state)
    state, seen = out.state, list(prompt)
    for _ in range(sampling.max_new_tokens):
        if limit is not None and state.position >= limit:  # no room left to read another token
            break
        token = pick(out.logits[0, -1], seen, sampling, gen)
        if token in sampling.stop_ids:
            break
        yield token
        seen.append(token)
        out = model(torch.tensor([[token]], device=device), state)
        state = out.state
    return state
