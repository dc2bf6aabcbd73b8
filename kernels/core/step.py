"""The `step` face: one token, functional, plain torch ops (the decode path and the ONNX export).

It never mutates its input state and returns every state tensor, because an in-place update that
isn't returned is silently dropped by ONNX exporters (kernels.md, tier 5).
"""

from __future__ import annotations

import torch

from kernels._state import MemoryState, Rule, l2norm


def linear_memory_step(
    q: torch.Tensor,  # [N, H, K]
    k: torch.Tensor,  # [N, H, K]
    v: torch.Tensor,  # [N, H, V]
    log_decay: torch.Tensor,  # [N, H], log α ≤ 0
    eta: torch.Tensor,  # [N, H], step size η ≥ 0
    momentum: torch.Tensor | None,  # [N, H], β ∈ [0, 1), momentum rules only
    state: MemoryState,
    *,
    rule: Rule,
    chunk_size: int | None = None,
    use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, MemoryState]:
    """Advance ``state`` by one token and read it: returns ``o`` [N, H, V] and the new state."""
    in_dtype, sdtype = v.dtype, state.memory.dtype
    q, k, v = q.to(sdtype), k.to(sdtype), v.to(sdtype)
    if use_qk_l2norm:
        q, k = l2norm(q), l2norm(k)
    alpha = log_decay.to(sdtype).exp()[..., None, None]  # [N, H, 1, 1]
    eta = eta.to(sdtype)[..., None]  # [N, H, 1]

    anchor, position = state.anchor, state.position
    if rule.error == "exact":
        e = v - torch.einsum("nhk,nhkv->nhv", k, state.memory)
    elif rule.error == "chunk_start":
        starts_chunk = (position % chunk_size == 0)[:, None, None, None]  # [N, 1, 1, 1]
        anchor = torch.where(starts_chunk, state.memory, anchor)
        e = v - torch.einsum("nhk,nhkv->nhv", k, anchor)
        position = position + 1
    else:  # decay: a plain gradient write, v is the gradient
        e = -v
    write = torch.einsum("nhk,nhv->nhkv", k, eta * e)  # [N, H, K, V]

    new_momentum = None
    if rule.momentum:
        new_momentum = momentum.to(sdtype)[..., None, None] * state.momentum + write
        write = new_momentum
    memory = alpha * state.memory + write
    o = torch.einsum("nhk,nhkv->nhv", q, memory)
    return o.to(in_dtype), MemoryState(memory, new_momentum, anchor, position)
