"""Op 3: the gated delta rule with exact Titans momentum (hope-spec §2, momentum flag on).

    P_t = β_t P_{t−1} + η_t k_t (v_t − M_{t−1}ᵀ k_t)ᵀ,    M_t = α_t M_{t−1} + P_t,    o_t = M_tᵀ q_t

The state doubles to [M; P] and is exchanged as one tensor [N, H, 2, K, V] (index 0 the memory,
1 the momentum). Chunking stays exact: the decay factors become products of 2×2 upper-triangular
transitions (kernels.md). With β = 0 it is exactly op 1.
"""

from __future__ import annotations

import torch

from kernels import dispatch
from kernels._state import Rule, pack_state, unpack_state
from kernels.core.step import linear_memory_step

RULE = Rule(error="exact", momentum=True)


def momentum_delta_rule(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H] fp32, log α ≤ 0
    eta: torch.Tensor,  # [B, T, H] fp32, η ≥ 0
    momentum: torch.Tensor,  # [B, T, H] fp32, β ∈ [0, 1)
    *,
    initial_state: torch.Tensor | None = None,  # [N, H, 2, K, V] fp32
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    chunk_size: int = 64,
    face: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the write over whole sequences; returns ``o`` [B, T, H, V] and [M; P] [N, H, 2, K, V]."""
    o, final = dispatch.run(RULE, q, k, v, log_decay, eta, momentum,
                            initial_state=unpack_state(initial_state, True),
                            output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                            use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size, face=face)
    return o, None if final is None else pack_state(final)


def momentum_delta_rule_step(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, eta: torch.Tensor,
    momentum: torch.Tensor, state: torch.Tensor, *, use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode token; ``state`` [N, H, 2, K, V]; returns ``o`` [N, H, V] and the new state."""
    o, new = linear_memory_step(q, k, v, log_decay, eta, momentum, unpack_state(state, True), rule=RULE,
                                use_qk_l2norm=use_qk_l2norm)
    return o, pack_state(new)
