"""Op 1: the gated delta rule with learned per-token decay α and step η.

The DGD + weight-decay write of hope-spec §2 for a linear memory (and the W2 path of MLP memories),
in the state convention S = Mᵀ [K, V]:

    S_t = α_t S_{t−1} + η_t k_t (v_t − S_{t−1}ᵀ k_t)ᵀ,    o_t = S_tᵀ q_t

the per-token gradient step on ½‖Sᵀk − v‖² plus decay. It equals fla's ``chunk_gated_delta_rule``
with g = log α, β = η/α, v' = α v and scale 1 (fla decays before it predicts).
"""

from __future__ import annotations

import torch

from kernels import dispatch
from kernels._state import MemoryState, Rule, unpack_state
from kernels.core.step import linear_memory_step

RULE = Rule(error="exact", momentum=False)


def gated_delta_rule(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H] fp32, log α ≤ 0
    eta: torch.Tensor,  # [B, T, H] fp32, η ≥ 0
    *,
    initial_state: torch.Tensor | None = None,  # [N, H, K, V] fp32
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,  # [N + 1] int, with B = 1
    use_qk_l2norm: bool = False,
    chunk_size: int = 64,
    face: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the write over whole sequences; returns ``o`` [B, T, H, V] and the final state [N, H, K, V]."""
    o, final = dispatch.run(RULE, q, k, v, log_decay, eta, None, initial_state=unpack_state(initial_state, False),
                            output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                            use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size, face=face)
    return o, None if final is None else final.memory


def gated_delta_rule_step(
    q: torch.Tensor,  # [N, H, K]
    k: torch.Tensor,  # [N, H, K]
    v: torch.Tensor,  # [N, H, V]
    log_decay: torch.Tensor,  # [N, H]
    eta: torch.Tensor,  # [N, H]
    state: torch.Tensor,  # [N, H, K, V]
    *,
    use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode token: returns ``o`` [N, H, V] and the new state; the input state is not touched."""
    o, new = linear_memory_step(q, k, v, log_decay, eta, None, MemoryState(state), rule=RULE,
                                use_qk_l2norm=use_qk_l2norm)
    return o, new.memory
