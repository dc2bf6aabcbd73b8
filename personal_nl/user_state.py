"""The user state as bytes: the CMS deltas a person's text wrote, serialised deterministically.

Everything the model learned about one user is these deltas from θ₀; they are what the runtime
encrypts, checkpoints and compares by hash when it verifies a forget by recomputation.
"""

from __future__ import annotations

import hashlib

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from personal_nl.cms import DELTA_NAMES, Delta
from personal_nl.model import HopeLM, State, from_state_dict

Deltas = tuple[tuple[Delta | None, ...], ...]


def _key(block: int, level: int, name: str) -> str:
    return f"blocks.{block}.cms.{level}.{name}"


def to_tensors(deltas: Deltas) -> dict[str, torch.Tensor]:
    """The deltas as contiguous CPU tensors under fixed names, sorted: what `to_bytes` writes."""
    tensors = {_key(b, i, n): d[n].detach().to("cpu").contiguous()
               for b, levels in enumerate(deltas) for i, d in enumerate(levels) if d is not None
               for n in DELTA_NAMES}
    return dict(sorted(tensors.items()))


def to_bytes(deltas: Deltas) -> bytes:
    """Same deltas, same bytes."""
    return save_bytes(to_tensors(deltas), metadata={"format": "hope-user-state-1"})


def digest(deltas: Deltas) -> str:
    """SHA-256 of ``to_bytes``: equal states, equal digests, on the same machine and build."""
    return hashlib.sha256(to_bytes(deltas)).hexdigest()


def from_bytes(data: bytes, model: HopeLM) -> Deltas:
    """Deltas for ``model`` from ``to_bytes`` output; refuses bytes that don't fit the model."""
    try:
        tensors = load_bytes(data)
    except Exception as err:  # safetensors reports corruption with its own error types
        raise ValueError(f"user state is not readable: {err}") from None
    return from_tensors(tensors, model)


def from_tensors(tensors: dict[str, torch.Tensor], model: HopeLM) -> Deltas:
    """Deltas for ``model`` from ``to_tensors`` output; refuses tensors that don't fit the model."""
    out, used = [], set()
    for b, block in enumerate(model.blocks):
        levels = []
        for i, level in enumerate(block.cms.levels):
            names = [_key(b, i, n) for n in DELTA_NAMES]
            if not any(k in tensors for k in names):
                levels.append(None)
                continue
            delta = {}
            for n, k in zip(DELTA_NAMES, names, strict=True):
                want = tuple(level.weights()[n].shape)
                if k not in tensors or tuple(tensors[k].shape[1:]) != want:
                    got = None if k not in tensors else list(tensors[k].shape)
                    raise ValueError(f"user state tensor {k!r} has shape {got}, the model needs [B, *{list(want)}]")
                delta[n] = tensors[k].to(level.weights()[n].dtype)
                used.add(k)
            levels.append(delta)
        out.append(tuple(levels))
    extra = sorted(set(tensors) - used)
    if extra:
        raise ValueError(f"user state holds {extra[0]!r}, which this model doesn't have")
    return tuple(out)


def size_bytes(deltas: Deltas) -> int:
    return sum(t.numel() * t.element_size() for levels in deltas for d in levels if d is not None
               for t in d.values())


def fresh(model: HopeLM, deltas: Deltas) -> State:
    """A model state at position 0 carrying ``deltas``: how a new conversation starts for a user."""
    return model.initial_state()._replace(cms=deltas)


def merge(model: HopeLM, deltas: Deltas) -> HopeLM:
    """The model with θ₀ + delta folded into the weights of every level that has a delta (batch 1),
    sharing every other tensor. Reading with folded weights costs what the base model costs, where
    per-sequence deltas would rebuild each weight on every call; use it whenever the deltas stay
    fixed across many calls (a chat turn, a batch of probes)."""
    weights = model.state_dict()
    for b, levels in enumerate(deltas):
        for i, delta in enumerate(levels):
            if delta is None:
                continue
            for n in DELTA_NAMES:
                if delta[n].shape[0] != 1:
                    raise ValueError(f"only a batch of one user state can be merged, got {delta[n].shape[0]}")
                key = f"blocks.{b}.cms.levels.{i}.mlp.{n}"
                weights[key] = (weights[key] + delta[n][0]).detach()
    merged = from_state_dict(model.cfg, weights)
    return merged.train(model.training).requires_grad_(False)
