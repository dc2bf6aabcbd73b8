"""Random inputs and states for every write rule, shared by the kernel tests."""

from __future__ import annotations

import torch

from kernels._state import MemoryState, Rule

RULES = {
    "delta": Rule("exact", False),
    "delta-momentum": Rule("exact", True),
    "decay": Rule("decay", False),
    "decay-momentum": Rule("decay", True),
    "chunkstart": Rule("chunk_start", False),
    "chunkstart-momentum": Rule("chunk_start", True),
}


def make_inputs(rule: Rule, B: int, T: int, H: int, K: int, V: int, *, dtype=torch.float64,
                eta_max: float = 0.9, alpha_min: float = 0.5, alpha_max: float = 1.0,
                unit_keys: bool = True, seed: int = 0) -> dict[str, torch.Tensor | None]:
    """q, k, v in ``dtype``; α ∈ [alpha_min, alpha_max], η ∈ [0, eta_max], β ∈ [0, 0.9) in fp32/fp64."""
    gen = torch.Generator().manual_seed(seed)
    sdt = torch.float64 if dtype == torch.float64 else torch.float32
    k = torch.randn(B, T, H, K, generator=gen, dtype=torch.float64)
    k = torch.nn.functional.normalize(k, dim=-1) if unit_keys else k / K**0.5
    alpha = alpha_min + (alpha_max - alpha_min) * torch.rand(B, T, H, generator=gen, dtype=torch.float64)
    return {
        "q": torch.randn(B, T, H, K, generator=gen, dtype=torch.float64).to(dtype),
        "k": k.to(dtype),
        "v": torch.randn(B, T, H, V, generator=gen, dtype=torch.float64).to(dtype),
        "log_decay": alpha.clamp_min(1e-30).log().to(sdt),
        "eta": (eta_max * torch.rand(B, T, H, generator=gen, dtype=torch.float64)).to(sdt),
        "momentum": (0.9 * torch.rand(B, T, H, generator=gen, dtype=torch.float64)).to(sdt)
        if rule.momentum else None,
    }


def make_state(rule: Rule, N: int, H: int, K: int, V: int, *, dtype=torch.float64, seed: int = 1,
               max_position: int = 0) -> MemoryState:
    """A non-trivial state: random memory, momentum and anchor; positions in [0, max_position]."""
    gen = torch.Generator().manual_seed(seed)

    def rand() -> torch.Tensor:
        return 0.3 * torch.randn(N, H, K, V, generator=gen, dtype=dtype)

    return MemoryState(
        memory=rand(),
        momentum=rand() if rule.momentum else None,
        anchor=rand() if rule.error == "chunk_start" else None,
        position=torch.randint(0, max_position + 1, (N,), generator=gen)
        if rule.error == "chunk_start" else None,
    )


def state_tensors(state: MemoryState | None) -> dict[str, torch.Tensor]:
    """The state's tensors by name, for comparing states field by field."""
    if state is None:
        return {}
    return {name: t for name, t in state._asdict().items() if t is not None}


def cast(inputs: dict[str, torch.Tensor | None], dtype: torch.dtype) -> dict[str, torch.Tensor | None]:
    return {name: None if t is None else t.to(dtype) for name, t in inputs.items()}
