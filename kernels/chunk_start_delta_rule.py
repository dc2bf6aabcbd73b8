"""Op 4: chunk-start-gradient mode (TTT / Titans mini-batch semantics), for deep memories.

Within each chunk of ``chunk_size`` tokens every error is taken at the memory A the chunk started
from, e_t = v_t − Aᵀ k_t, while decay, momentum and reads stay per token:

    P_t = β_t P_{t−1} + η_t k_t e_tᵀ  (momentum optional),   M_t = α_t M_{t−1} + (P_t | η_t k_t e_tᵀ)

Here the chunk size is part of the model, not a speed knob. The state carries A and the position
in the sequence, so decoding one token at a time reproduces the chunked semantics exactly.
"""

from __future__ import annotations

import torch

from kernels import dispatch
from kernels._state import MemoryState, Rule
from kernels.core.step import linear_memory_step


def _rule(momentum: torch.Tensor | None) -> Rule:
    return Rule(error="chunk_start", momentum=momentum is not None)


def chunk_start_delta_rule(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H] fp32, log α ≤ 0
    eta: torch.Tensor,  # [B, T, H] fp32, η ≥ 0
    *,
    chunk_size: int,
    momentum: torch.Tensor | None = None,  # [B, T, H] fp32, β ∈ [0, 1)
    initial_state: MemoryState | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    face: str | None = None,
) -> tuple[torch.Tensor, MemoryState | None]:
    """Run over whole sequences; returns ``o`` [B, T, H, V] and the final MemoryState (memory,
    momentum if any, anchor, position)."""
    return dispatch.run(_rule(momentum), q, k, v, log_decay, eta, momentum, initial_state=initial_state,
                        output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                        use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size, face=face)


def chunk_start_delta_rule_step(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, eta: torch.Tensor,
    state: MemoryState, *, chunk_size: int, momentum: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, MemoryState]:
    """One decode token ([N, H, K|V] inputs, [N, H] scalars); returns ``o`` and the new state."""
    return linear_memory_step(q, k, v, log_decay, eta, momentum, state, rule=_rule(momentum),
                              chunk_size=chunk_size, use_qk_l2norm=use_qk_l2norm)
