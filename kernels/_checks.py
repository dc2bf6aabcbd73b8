"""Argument validation shared by every face, so every face refuses bad input with the same message."""

from __future__ import annotations

import torch

from kernels._state import MemoryState, Rule

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _shape(name: str, t: torch.Tensor, expected: tuple[int, ...], letters: str) -> None:
    if tuple(t.shape) != expected:
        raise ValueError(f"{name} must have shape [{letters}] = {list(expected)}, got {list(t.shape)}")


def num_sequences(q: torch.Tensor, cu_seqlens: torch.Tensor | None) -> int:
    return q.shape[0] if cu_seqlens is None else cu_seqlens.numel() - 1


def check_inputs(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor,
    eta: torch.Tensor,
    momentum: torch.Tensor | None,
    *,
    rule: Rule,
    initial_state: MemoryState | None,
    cu_seqlens: torch.Tensor | None,
    chunk_size: int | None,
) -> None:
    """Raise ValueError naming the argument, what was expected and what came, before any work."""
    if q.dim() != 4:
        raise ValueError(f"q must be [B, T, H, K], got {q.dim()} dims with shape {list(q.shape)}")
    B, T, H, K = q.shape
    if v.dim() != 4:
        raise ValueError(f"v must be [B, T, H, V], got {v.dim()} dims with shape {list(v.shape)}")
    V = v.shape[-1]
    _shape("k", k, (B, T, H, K), "B, T, H, K")
    _shape("v", v, (B, T, H, V), "B, T, H, V")
    _shape("log_decay", log_decay, (B, T, H), "B, T, H")
    _shape("eta", eta, (B, T, H), "B, T, H")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dtype not in _FLOATS:
            raise ValueError(f"{name} must be a floating tensor, got {t.dtype}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if rule.momentum:
        if momentum is None:
            raise ValueError("this rule needs momentum [B, T, H] (β in [0, 1)), got None")
        _shape("momentum", momentum, (B, T, H), "B, T, H")
    elif momentum is not None:
        raise ValueError("momentum was given but this rule has no momentum buffer")
    if rule.error == "chunk_start" and (chunk_size is None or chunk_size < 1):
        raise ValueError(f"chunk_start rules need a positive chunk_size, got {chunk_size}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if cu_seqlens is not None:
        check_cu_seqlens(cu_seqlens, B, T)
    if initial_state is not None:
        check_state(initial_state, rule, num_sequences(q, cu_seqlens), H, K, V)


def check_cu_seqlens(cu_seqlens: torch.Tensor, B: int, T: int) -> None:
    if B != 1:
        raise ValueError(f"with cu_seqlens the batch size must be 1 (sequences packed along T), got B={B}")
    if cu_seqlens.dim() != 1 or cu_seqlens.numel() < 2 or cu_seqlens.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"cu_seqlens must be a 1-D int32/int64 tensor of N+1 offsets, got "
                         f"{cu_seqlens.dtype} with shape {list(cu_seqlens.shape)}")
    offsets = cu_seqlens.tolist()
    if offsets[0] != 0 or offsets[-1] != T or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise ValueError(f"cu_seqlens must rise from 0 to T={T} without decreasing, got {offsets}")


def check_state(state: MemoryState, rule: Rule, N: int, H: int, K: int, V: int) -> None:
    _shape("initial_state.memory", state.memory, (N, H, K, V), "N, H, K, V")
    if rule.momentum:
        if state.momentum is None:
            raise ValueError("initial_state has no momentum buffer but this rule needs one")
        _shape("initial_state.momentum", state.momentum, (N, H, K, V), "N, H, K, V")
    if rule.error == "chunk_start":
        if state.anchor is None or state.position is None:
            raise ValueError("initial_state of a chunk_start rule needs anchor and position")
        _shape("initial_state.anchor", state.anchor, (N, H, K, V), "N, H, K, V")
        _shape("initial_state.position", state.position, (N,), "N")
