"""The default model on a lent GPU (issue 4, "Device choice"), run from bench/kernels_gpu.py: greedy
decode in fp32 and in the half precision ``personal_nl.device`` allows, and one online learning step.

Kept out of kernels_gpu.py so that script stays about kernels; it imports this only when CUDA is there.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

CHAT = [{"role": "user", "content": "Give me three tips for sleeping better."}]
DEVICE = "cuda"
NEW_TOKENS = 128
LEARN_TOKENS = 128


def _sync() -> None:
    torch.cuda.synchronize()


def _decode(model: Any, ids: list[int]) -> tuple[list[int], float, float]:
    """(tokens, TTFT s, tok/s after the first token); each pick reads the logits, so each step syncs."""
    from personal_nl.generate import Sampling, stream

    tokens, first = [], 0.0
    _sync()
    start = time.perf_counter()
    for token in stream(model, ids, Sampling(max_new_tokens=NEW_TOKENS)):
        if not tokens:
            first = time.perf_counter()
        tokens.append(token)
    _sync()
    end = time.perf_counter()
    return tokens, first - start, (len(tokens) - 1) / max(end - first, 1e-9)


def _learn_ms(model: Any, ids: torch.Tensor) -> float:
    """One wake step as the runtime takes it: read ``ids`` while learning, then close the document."""
    from personal_nl import learn

    _sync()
    start = time.perf_counter()
    state = learn.start(model)
    _, _, state = learn.online_forward(model, ids, state)
    learn.finish(model, state)
    _sync()
    return 1e3 * (time.perf_counter() - start)


def default_model_rows() -> list[dict[str, Any]]:
    """Rows for the decode and learning timings; empty (with a note printed) when the default model
    is not installed."""
    from personal_nl.default_model import DefaultModelMissing, load_default_model, with_online_learning
    from personal_nl.device import choose_dtype

    try:
        imported = load_default_model()
    except DefaultModelMissing as err:
        print(f"  skip the default model: {err}")
        return []
    ids = imported.tokenizer.encode_chat(CHAT)
    model = with_online_learning(imported.model).to(DEVICE).eval()
    rows = []
    started = time.perf_counter()
    half = choose_dtype(model, DEVICE)
    check_s = time.perf_counter() - started
    reference = None
    for dtype in dict.fromkeys([torch.float32, half]):
        m = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)  # fp32 weights kept for learning
        _decode(m, ids[:8])  # warm-up: kernels chosen, caches allocated
        tokens, ttft, speed = _decode(m, ids)
        reference = reference or tokens
        diverges = next((i for i, (a, b) in enumerate(zip(tokens, reference)) if a != b), None)
        rows.append({"part": "decode", "dtype": str(dtype).removeprefix("torch."), "tok_per_s": speed,
                     "ttft_ms": 1e3 * ttft, "greedy_matches_fp32": diverges is None, "first_divergence": diverges,
                     "note": f"half-precision check {check_s:.1f} s" if dtype != torch.float32 else ""})
        del m
        print(f"  decode {rows[-1]['dtype']:>8}: {speed:7.1f} tok/s, TTFT {1e3 * ttft:6.1f} ms", flush=True)
    text = torch.tensor([(ids * (LEARN_TOKENS // len(ids) + 1))[:LEARN_TOKENS]], device=DEVICE)
    _learn_ms(model, text)  # warm-up
    ms = min(_learn_ms(model, text) for _ in range(3))
    rows.append({"part": f"online learning, {LEARN_TOKENS} tokens", "dtype": "float32", "ms": ms,
                 "tok_per_s": LEARN_TOKENS / ms * 1e3, "note": "online_forward + finish, layers 27-29"})
    print(f"  online learning step ({LEARN_TOKENS} tokens): {ms:.1f} ms", flush=True)
    return rows
