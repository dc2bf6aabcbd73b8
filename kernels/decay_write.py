"""Op 2: the decay-only write, the W1 path of an MLP memory (hope-spec §2).

    S_t = α_t S_{t−1} − η_t k_t v_tᵀ,    o_t = S_tᵀ q_t

where k is the activation the weight reads and v the gradient reaching its output (W ← αW − η r aᵀ).
No state enters the write, so chunks only pass the decayed sum along. With ``momentum`` β the write
goes through a Titans momentum buffer, P_t = β_t P_{t−1} − η_t k_t v_tᵀ, S_t = α_t S_{t−1} + P_t, and
the state is [S; P] as one tensor [N, H, 2, K, V], as in op 3.
"""

from __future__ import annotations

import torch

from kernels import dispatch
from kernels._state import Rule, pack_state, unpack_state
from kernels.core.step import linear_memory_step


def _rule(momentum: torch.Tensor | None) -> Rule:
    return Rule(error="decay", momentum=momentum is not None)


def decay_write(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H] fp32, log α ≤ 0
    eta: torch.Tensor,  # [B, T, H] fp32, η ≥ 0
    *,
    momentum: torch.Tensor | None = None,  # [B, T, H] fp32, β ∈ [0, 1)
    initial_state: torch.Tensor | None = None,  # [N, H, K, V] fp32, [N, H, 2, K, V] with momentum
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    chunk_size: int = 64,
    face: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the write over whole sequences; returns ``o`` [B, T, H, V] and the final state."""
    o, final = dispatch.run(_rule(momentum), q, k, v, log_decay, eta, momentum,
                            initial_state=unpack_state(initial_state, momentum is not None),
                            output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                            use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size, face=face)
    return o, None if final is None else pack_state(final)


def decay_write_step(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, eta: torch.Tensor,
    state: torch.Tensor, *, momentum: torch.Tensor | None = None, use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode token ([N, H, K|V] inputs, [N, H] scalars); returns ``o`` and the new state."""
    o, new = linear_memory_step(q, k, v, log_decay, eta, momentum, unpack_state(state, momentum is not None),
                                rule=_rule(momentum), use_qk_l2norm=use_qk_l2norm)
    return o, pack_state(new)
