"""Where and in which precision the model runs (issue 4): CUDA when present, else the CPU; half
precision only on CUDA and only where it keeps greedy output identical to fp32, since a user must
not get a different answer because a GPU happened to be there.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import torch

from personal_nl.generate import Sampling, stream
from personal_nl.model import HopeLM

log = logging.getLogger(__name__)

HALF_DTYPES = (torch.bfloat16, torch.float16)
# A short fixed prompt (token ids, valid for any vocabulary of 64+) and how far greedy output must agree.
CHECK_PROMPT = (1, 5, 9, 17, 33, 2, 8, 13, 21, 34, 55, 3)
CHECK_TOKENS = 32


def choose_device() -> torch.device:
    """CUDA when a device is present, otherwise the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def greedy_tokens(model: HopeLM, prompt: Sequence[int] = CHECK_PROMPT, n: int = CHECK_TOKENS) -> list[int]:
    """The model's greedy continuation of ``prompt`` (no stop tokens), on the model's own device."""
    return list(stream(model, list(prompt), Sampling(max_new_tokens=n)))


def keeps_greedy_output(model: HopeLM, dtype: torch.dtype, device: torch.device | str,
                        prompt: Sequence[int] = CHECK_PROMPT, n: int = CHECK_TOKENS) -> bool:
    """Whether ``model`` cast to ``dtype`` on ``device`` picks the same ``n`` greedy tokens as in fp32
    there. Works on a copy; ``model`` itself is not moved or cast."""
    prompt = [t % model.cfg.vocab_size for t in prompt]
    reference = copy.deepcopy(model).to(device=device, dtype=torch.float32).eval()
    expected = greedy_tokens(reference, prompt, n)
    del reference
    half = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    return greedy_tokens(half, prompt, n) == expected


def choose_dtype(model: HopeLM, device: torch.device | str) -> torch.dtype:
    """bf16 or fp16 on CUDA if one of them keeps the greedy check identical to fp32 (bf16 first: it
    cannot overflow), else fp32. The CPU always gets fp32: half precision there is slower, not faster."""
    device = torch.device(device)
    if device.type != "cuda":
        return torch.float32
    for dtype in HALF_DTYPES:
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            continue
        if keeps_greedy_output(model, dtype, device):
            log.info("decoding in %s on %s: greedy output matches fp32", dtype, device)
            return dtype
        log.info("%s changes greedy output on %s; trying the next precision", dtype, device)
    return torch.float32
