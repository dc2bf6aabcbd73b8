"""The user state: everything the model learned about one person, as tensors and as bytes.

Two parts, both deltas from the shared base weights: ``wake`` holds the online CMS levels as
they stand since the last sleep (learned turn by turn), ``factors`` the low-rank slow level that
sleep consolidates into. Same state, same bytes, same hash: a forget is verified by comparing the
hash of the replayed state with a recomputation.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from functools import cached_property

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from personal_nl import learn, user_state
from personal_nl.consolidate import Factors, expand, factor_pairs, init_factors
from personal_nl.model import HopeLM
from personal_nl.user_state import Deltas, merge

FORMAT = "hope-assistant-state-1"
# (block, level, weight name) -> (U [out, r], V [r, in]): a delta U @ V kept as its factors
LowRank = dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]]
_WAKE, _SLEEP, _TOKENS = "wake.", "sleep.", "tokens_since_sleep"


def no_deltas(model: HopeLM) -> Deltas:
    return tuple((None,) * len(block.cms.levels) for block in model.blocks)


@dataclass(frozen=True)
class UserState:
    wake: Deltas
    factors: Factors
    tokens_since_sleep: int = 0

    @classmethod
    def initial(cls, model: HopeLM, sleep_config, seed: int) -> UserState:
        """A user who has said nothing yet: no wake deltas, slow factors that add exactly zero."""
        return cls(no_deltas(model), init_factors(model, sleep_config, seed), 0)

    def deltas(self, model: HopeLM) -> Deltas:
        """What the model adds to θ₀ now: the slow level everywhere, the online levels as learned."""
        slow = expand(model, self.factors, None)
        return tuple(tuple(wake if wake is not None else s for wake, s in zip(wakes, slows, strict=True))
                     for wakes, slows in zip(self.wake, slow, strict=True))

    def decode_parts(self, model: HopeLM) -> tuple[Deltas, LowRank]:
        """What the model adds to θ₀ now, in the form a decode graph takes as inputs (no re-export):
        the wake deltas as full matrices (they hold the slow level's share of their levels too, since
        learning starts from it) and, on every other level, the slow level's low-rank factors."""
        pairs = factor_pairs(model, self.factors)
        return self.wake, {key: uv for key, uv in pairs.items() if self.wake[key[0]][key[1]] is None}

    def to_bytes(self) -> bytes:
        tensors = {_WAKE + k: v for k, v in user_state.to_tensors(self.wake).items()}
        tensors |= {_SLEEP + k: v.detach().to("cpu").contiguous() for k, v in sorted(self.factors.items())}
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
        return cls(user_state.from_tensors(wake, model), dict(sorted(factors.items())), tokens)


def _metadata(data: bytes) -> dict[str, str]:
    """The metadata of safetensors bytes (the library reads it only from files)."""
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + size]).get("__metadata__") or {}


def learn_exchange(model: HopeLM, state: UserState, ids: list[int]) -> UserState:
    """The online (wake) step on one exchange's tokens: the online CMS levels read it and learn;
    the text is cut at the model's context length, the documented truncation for learning."""
    ids = ids[:model.cfg.max_seq_len]
    if len(ids) < 2 or learn.segment_length(model) is None:
        return state
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
    _, _, learning = learn.online_forward(reader, tokens, learning)
    learned = learn.finish(reader, learning).model.cms
    wake = tuple(tuple(learned[b][i] if (b, i) in online else None for i in range(len(levels)))
                 for b, levels in enumerate(state.wake))
    return UserState(wake, state.factors, state.tokens_since_sleep + len(ids))
