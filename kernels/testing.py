"""Comparison helpers shared by the kernel tests and the GPU check script."""

from __future__ import annotations

import torch


def rms_ratio(ref: torch.Tensor, got: torch.Tensor) -> float:
    """‖got − ref‖_rms / ‖ref‖_rms in float64; NaN anywhere (e.g. an unwritten poisoned output) is inf."""
    ref64, got64 = ref.detach().double(), got.detach().double()
    if not torch.isfinite(got64).all():
        return float("inf")
    denom = ref64.pow(2).mean().sqrt().item()
    num = (got64 - ref64).pow(2).mean().sqrt().item()
    return num / denom if denom > 0 else num


def assert_close(name: str, ref: torch.Tensor, got: torch.Tensor, ratio: float) -> None:
    """Fail with the tensor's name, max abs error and RMS ratio when ``got`` strays from ``ref``."""
    if ref.shape != got.shape:
        raise AssertionError(f"{name}: shape {list(got.shape)} != reference {list(ref.shape)}")
    err = rms_ratio(ref, got)
    max_abs = (got.detach().double() - ref.detach().double()).abs().max().item() if ref.numel() else 0.0
    if not err <= ratio:
        raise AssertionError(f"{name}: rms ratio {err:.3e} > {ratio:.1e} (max abs err {max_abs:.3e})")
