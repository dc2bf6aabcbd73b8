"""Which face runs a sequence call: triton on CUDA, chunk elsewhere, HOPE_KERNEL_FACE forces one."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from kernels._checks import check_inputs
from kernels._state import MemoryState, Rule

FACE_ENV = "HOPE_KERNEL_FACE"
FACES = ("naive", "chunk", "triton")


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def choose_face(face: str | None, device: torch.device) -> str:
    """An explicit ``face`` wins, then $HOPE_KERNEL_FACE, then triton on CUDA, else chunk."""
    chosen = face or os.environ.get(FACE_ENV) or None
    if chosen is None:
        return "triton" if device.type == "cuda" and _has_triton() else "chunk"
    if chosen not in FACES:
        source = "face" if face else f"${FACE_ENV}"
        raise ValueError(f"{source} must be one of {', '.join(FACES)}, got {chosen!r}")
    return chosen


def _implementation(face: str) -> Callable[..., tuple[torch.Tensor, MemoryState | None]]:
    if face == "naive":
        from kernels.core.naive import linear_memory_naive
        return linear_memory_naive
    if face == "chunk":
        from kernels.core.chunk import linear_memory_chunk
        return linear_memory_chunk
    if not _has_triton():
        raise ValueError("the triton face needs the 'triton' extra: pip install -e '.[triton]'")
    from kernels.core.triton import linear_memory_triton
    return linear_memory_triton


def run(
    rule: Rule,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_decay: torch.Tensor,
    eta: torch.Tensor,
    momentum: torch.Tensor | None,
    *,
    initial_state: MemoryState | None,
    output_final_state: bool,
    cu_seqlens: torch.Tensor | None,
    use_qk_l2norm: bool,
    chunk_size: int | None,
    face: str | None,
) -> tuple[torch.Tensor, MemoryState | None]:
    """Validate once, then hand the call to the chosen face."""
    check_inputs(q, k, v, log_decay, eta, momentum, rule=rule, initial_state=initial_state,
                 cu_seqlens=cu_seqlens, chunk_size=chunk_size)
    implementation = _implementation(choose_face(face, q.device))
    return implementation(q, k, v, log_decay, eta, momentum, rule=rule, initial_state=initial_state,
                          output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                          use_qk_l2norm=use_qk_l2norm, chunk_size=chunk_size)
