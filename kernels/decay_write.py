"""Op 2: the decay-only write, the W1 path of an MLP memory (hope-spec §2).

    S_t = α_t S_{t−1} − η_t k_t v_tᵀ,    o_t = S_tᵀ q_t

where k is the activation the weight reads and v the gradient reaching its output (W ← αW − η r aᵀ).
No state enters the write, so chunks only pass the decayed sum along.
"""

from __future__ import annotations

import torch

from kernels import dispatch
from kernels._state import MemoryState, Rule
from kernels.core.step import linear_memory_step

RULE = Rule(error="decay", momentum=False)


def decay_write(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H] fp32, log α ≤ 0
    eta: torch.Tensor,  # [B, T, H] fp32, η ≥ 0
    *,
    initial_state: torch.Tensor | None = None,  # [N, H, K, V] fp32
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    chunk_size: int = 64,
    face: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the write over whole sequences; returns ``o`` [B, T, H, V] and the final state [N, H, K, V]."""
    state = None if initial_state is None else MemoryState(initial_state)
    o, final = dispatch.run(RULE, q, k, v, log_decay, eta, None, initial_state=state,
                            output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                            use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size, face=face)
    return o, None if final is None else final.memory


def decay_write_step(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor, eta: torch.Tensor,
    state: torch.Tensor, *, use_qk_l2norm: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode token ([N, H, K|V] inputs, [N, H] scalars); returns ``o`` and the new state."""
    o, new = linear_memory_step(q, k, v, log_decay, eta, None, MemoryState(state), rule=RULE,
                                use_qk_l2norm=use_qk_l2norm)
    return o, new.memory
