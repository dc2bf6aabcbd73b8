"""Device and precision choice: CUDA when present, half precision only where greedy output stays the
same (the check itself runs here on the CPU; choosing among precisions is tested with a fake check)."""

from __future__ import annotations

import pytest
import torch

from personal_nl import device
from personal_nl.config import tiny
from personal_nl.model import HopeLM


@pytest.fixture(scope="module")
def model() -> HopeLM:
    torch.manual_seed(0)
    return HopeLM(tiny("attention")).eval()


def test_choose_device_follows_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.choose_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.choose_device() == torch.device("cuda")


def test_greedy_check_compares_against_fp32_and_leaves_the_model_alone(model):
    weight = model.embed.weight.clone()
    assert device.keeps_greedy_output(model, torch.float64, "cpu")  # more precision: same tokens
    assert model.embed.weight.dtype == torch.float32 and torch.equal(model.embed.weight, weight)


def test_cpu_always_gets_fp32(model, monkeypatch):
    monkeypatch.setattr(device, "keeps_greedy_output", lambda *a, **k: pytest.fail("no check on the CPU"))
    assert device.choose_dtype(model, "cpu") == torch.float32


@pytest.mark.parametrize(("passes", "expected"), [
    ({torch.bfloat16, torch.float16}, torch.bfloat16),
    ({torch.float16}, torch.float16),
    (set(), torch.float32),
])
def test_cuda_takes_the_first_half_precision_that_keeps_greedy_output(model, monkeypatch, passes, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    checked = []
    monkeypatch.setattr(device, "keeps_greedy_output",
                        lambda m, dtype, dev, *a, **k: checked.append(dtype) or dtype in passes)
    assert device.choose_dtype(model, "cuda") == expected
    assert checked == ([torch.bfloat16] if expected == torch.bfloat16 else [torch.bfloat16, torch.float16])
