"""The vocabulary shared by every face: which write rule runs, and the recurrent state it carries."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

ErrorMode = Literal["exact", "chunk_start", "decay"]


class Rule(NamedTuple):
    """Which linear fast-weight write an op performs (hope-spec §2, kernels.md).

    Every op writes ``M_t = α_t M_{t-1} + η_t k_t e_tᵀ`` (through a momentum buffer when
    ``momentum`` is set) and reads ``o_t = M_tᵀ q_t``; they differ in the error ``e_t``:
    ``exact``: ``v_t − M_{t-1}ᵀ k_t`` (delta rule, per-token gradient of ½‖Mᵀk − v‖²);
    ``chunk_start``: ``v_t − Aᵀ k_t`` with ``A`` the memory at the start of the current chunk
    (TTT/Titans mini-batch semantics); ``decay``: ``−v_t`` (a plain gradient write, ``v`` = gradient).
    """

    error: ErrorMode
    momentum: bool


class MemoryState(NamedTuple):
    """Recurrent state of one op for N sequences, fp32 (fp64 for fp64 inputs).

    ``memory`` [N, H, K, V] is the fast weight. ``momentum`` [N, H, K, V] is the Titans momentum
    buffer (momentum rules only). ``anchor`` [N, H, K, V] holds the weights the pending gradients of
    the current chunk are taken at, and ``position`` [N] (int64) counts tokens seen, so that decoding
    one token at a time reproduces chunk semantics (chunk_start rules only).
    """

    memory: torch.Tensor
    momentum: torch.Tensor | None = None
    anchor: torch.Tensor | None = None
    position: torch.Tensor | None = None


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """States and accumulations run in fp32, or fp64 when the inputs are fp64 (the oracle)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def l2norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise the last axis; the same formula on every face so faces agree to rounding."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + eps)


def zero_state(rule: Rule, n: int, h: int, k: int, v: int, *, dtype: torch.dtype,
               device: torch.device | str | None = None) -> MemoryState:
    """The state of a memory that has seen nothing: zero weights, position 0."""
    zeros = torch.zeros(n, h, k, v, dtype=dtype, device=device)
    return MemoryState(
        memory=zeros,
        momentum=zeros.clone() if rule.momentum else None,
        anchor=zeros.clone() if rule.error == "chunk_start" else None,
        position=torch.zeros(n, dtype=torch.int64, device=device) if rule.error == "chunk_start" else None,
    )


def unpack_state(state: torch.Tensor | None, has_momentum: bool) -> MemoryState | None:
    """The public tensor state of ops 1–3: [N, H, K, V], or [M; P] as [N, H, 2, K, V] with momentum."""
    if state is None:
        return None
    if not has_momentum:
        return MemoryState(state)
    if state.dim() != 5 or state.shape[2] != 2:
        raise ValueError(f"with momentum the state must be [N, H, 2, K, V], got {list(state.shape)}")
    return MemoryState(memory=state[:, :, 0], momentum=state[:, :, 1])


def pack_state(state: MemoryState) -> torch.Tensor:
    return state.memory if state.momentum is None else torch.stack([state.memory, state.momentum], dim=2)
