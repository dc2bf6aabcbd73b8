"""The user state: everything the model learned about one person, as tensors and as bytes.

Three parts, all deltas from the shared base weights: ``wake`` holds the online CMS levels as
they stand since the last sleep (learned turn by turn), ``factors`` the low-rank light level that
each sleep retrains on the episodes since the last deep sleep, and ``deep`` the low-rank deep level
that a deep sleep retrains on every episode held (runtime/sleep.py). Both slow levels sit on the
same weights; their sum is one low-rank delta whose factors concatenate along the rank.
Same state, same bytes, same hash: a forget is verified by comparing the
hash of the replayed state with a recomputation.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from personal_nl import learn, user_state
from personal_nl.consolidate import Factors, expand, factor_pairs, init_factors
from personal_nl.model import HopeLM
from personal_nl.user_state import Deltas, merge

FORMAT = "hope-assistant-state-2"
# (block, level, weight name) -> (U [out, r], V [r, in]): a delta U @ V kept as its factors
LowRank = dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]]
_WAKE, _SLEEP, _DEEP, _TOKENS = "wake.", "sleep.", "deep.", "tokens_since_sleep"


def no_deltas(model: HopeLM) -> Deltas:
    return tuple((None,) * len(block.cms.levels) for block in model.blocks)


@dataclass(frozen=True)
class UserState:
    wake: Deltas
    factors: Factors  # the light level
    tokens_since_sleep: int = 0
    deep: Factors = field(default_factory=dict)  # empty until the first deep sleep

    @classmethod
    def initial(cls, model: HopeLM, sleep_config, seed: int) -> UserState:
        """A user who has said nothing yet: no wake deltas, light factors that add exactly zero, no deep level."""
        return cls(no_deltas(model), init_factors(model, sleep_config, seed), 0)

    def deltas(self, model: HopeLM) -> Deltas:
        """What the model adds to θ₀ now: the slow levels everywhere, the online levels as learned."""
        slow = expand(model, self.factors, expand(model, self.deep, None) if self.deep else None)
        return tuple(tuple(wake if wake is not None else s for wake, s in zip(wakes, slows, strict=True))
                     for wakes, slows in zip(self.wake, slow, strict=True))

    def decode_parts(self, model: HopeLM) -> tuple[Deltas, LowRank]:
        """What the model adds to θ₀ now, in the form a decode graph takes as inputs (no re-export):
        the wake deltas as full matrices (they hold the slow levels' share of their levels too, since
        learning starts from it) and, on every other level, the light and deep levels' low-rank factors
        side by side along the rank (U₁V₁ + U₂V₂ = [U₁ U₂][V₁; V₂])."""
        pairs = factor_pairs(model, self.factors)
        for key, (u, v) in factor_pairs(model, self.deep).items():  # light + deep: one set, twice the rank
            light = pairs.get(key)
            pairs[key] = (u, v) if light is None else (torch.cat([light[0], u], 1), torch.cat([light[1], v], 0))
        return self.wake, {key: uv for key, uv in pairs.items() if self.wake[key[0]][key[1]] is None}

    def to_bytes(self) -> bytes:
        tensors = {_WAKE + k: v for k, v in user_state.to_tensors(self.wake).items()}
        tensors |= {_SLEEP + k: v.detach().to("cpu").contiguous() for k, v in sorted(self.factors.items())}
        tensors |= {_DEEP + k: v.detach().to("cpu").contiguous() for k, v in sorted(self.deep.items())}
        tensors[_TOKENS] = torch.tensor(self.tokens_since_sleep, dtype=torch.int64)
        # One metadata key only: safetensors writes several in no fixed order, which would break the hash.
        return save_bytes(dict(sorted(tensors.items())), metadata={"format": FORMAT})

    @cached_property
    def digest(self) -> str:
        """SHA-256 of ``to_bytes``; computed once per state (it serialises tens of MB)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, model: HopeLM) -> UserState:
        """Refuses bytes of another format or another model's shapes with ValueError."""
        try:
            tensors = load_bytes(data)
            fmt = _metadata(data).get("format")
            tokens = int(tensors.pop(_TOKENS))
        except Exception as err:  # safetensors reports corruption with its own error types
            raise ValueError(f"the saved user state is not readable: {err}") from None
        if fmt != FORMAT:
            raise ValueError(f"the saved user state has format {fmt!r}, expected {FORMAT!r}")
        wake = {k[len(_WAKE):]: v for k, v in tensors.items() if k.startswith(_WAKE)}
        factors = {k[len(_SLEEP):]: v for k, v in tensors.items() if k.startswith(_SLEEP)}
        deep = {k[len(_DEEP):]: v for k, v in tensors.items() if k.startswith(_DEEP)}
        return cls(user_state.from_tensors(wake, model), dict(sorted(factors.items())), tokens,
                   dict(sorted(deep.items())))


def _metadata(data: bytes) -> dict[str, str]:
    """The metadata of safetensors bytes (the library reads it only from files)."""
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + size]).get("__metadata__") or {}


def learn_exchange(model: HopeLM, state: UserState, ids: list[int], mask: Sequence[bool] | None = None) -> UserState:
    """The online (wake) step on one exchange's tokens: the online CMS levels read it and learn to
    predict the tokens ``mask`` selects (all when None; the others are context); the text is cut at
    the model's context length, the documented truncation for learning."""
    ids = ids[:model.cfg.max_seq_len]
    if len(ids) < 2 or learn.segment_length(model) is None:
        return state
    if mask is not None and len(mask) < len(ids):
        raise ValueError(f"the mask has {len(mask)} entries for {len(ids)} tokens")
    online = learn.online_levels(model)
    deltas = state.deltas(model)
    # The levels that stay fixed are folded into the weights; only the learning ones carry deltas.
    fixed = tuple(tuple(None if (b, i) in online else d for i, d in enumerate(levels))
                  for b, levels in enumerate(deltas))
    moving = tuple(tuple(d if (b, i) in online else None for i, d in enumerate(levels))
                   for b, levels in enumerate(deltas))
    reader = merge(model, fixed)
    tokens = torch.tensor([ids], device=model.embed.weight.device)
    learning = learn.start(reader, user_state.fresh(reader, moving))
    loss_mask = None if mask is None else torch.tensor([list(mask[:len(ids)])], dtype=torch.bool, device=tokens.device)
    _, _, learning = learn.online_forward(reader, tokens, learning, loss_mask=loss_mask)
    learned = learn.finish(reader, learning).model.cms
    wake = tuple(tuple(learned[b][i] if (b, i) in online else None for i in range(len(levels)))
                 for b, levels in enumerate(state.wake))
    return UserState(wake, state.factors, state.tokens_since_sleep + len(ids), state.deep)
