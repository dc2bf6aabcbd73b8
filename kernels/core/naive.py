"""The `naive` face: a per-token loop over the step, float64-capable. This is the oracle.

Each sequence is walked token by token with exactly the recurrence of ``core.step``; nothing is
batched across time, so it can be checked against hope-spec §2 by reading.
"""

from __future__ import annotations

import torch

from kernels._state import MemoryState, Rule, state_dtype, zero_state
from kernels.core.step import linear_memory_step


def linear_memory_naive(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H]
    eta: torch.Tensor,  # [B, T, H]
    momentum: torch.Tensor | None,  # [B, T, H]
    *,
    rule: Rule,
    initial_state: MemoryState | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, MemoryState | None]:
    """Returns ``o`` [B, T, H, V] in the input dtype and, if asked, the final state of each sequence."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    if cu_seqlens is None:
        spans = [(slice(b, b + 1), slice(0, T)) for b in range(B)]
    else:
        bounds = cu_seqlens.tolist()
        spans = [(slice(0, 1), slice(s, e)) for s, e in zip(bounds, bounds[1:])]
    state = initial_state or zero_state(rule, len(spans), H, K, V, dtype=state_dtype(q.dtype), device=q.device)

    outputs, finals = [], []
    for n, (rows, times) in enumerate(spans):
        seq = MemoryState(*(None if x is None else x[n:n + 1] for x in state))
        for t in range(times.start, times.stop):
            o_t, seq = linear_memory_step(
                q[rows, t], k[rows, t], v[rows, t], log_decay[rows, t], eta[rows, t],
                None if momentum is None else momentum[rows, t], seq,
                rule=rule, chunk_size=chunk_size, use_qk_l2norm=use_qk_l2norm,
            )
            outputs.append(o_t)  # [1, H, V]
        finals.append(seq)

    # [1, B·T, H, V] in sequence order
    o = torch.stack(outputs, dim=1).reshape(v.shape[:-1] + (V,)) if outputs else v.new_zeros(v.shape)
    if not output_final_state:
        return o, None
    return o, MemoryState(*(None if xs[0] is None else torch.cat(xs) for xs in zip(*finals)))
