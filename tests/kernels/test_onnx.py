"""Tier 5: every op's `step` face exports to ONNX and runs in onnxruntime like eager torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernels
from kernels._state import MemoryState
from kernels.testing import assert_close

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

H, K, V, CHUNK = 2, 8, 6, 4


class GatedDeltaStep(torch.nn.Module):
    def forward(self, q, k, v, log_decay, eta, memory):
        return kernels.gated_delta_rule_step(q, k, v, log_decay, eta, memory, use_qk_l2norm=True)


class DecayWriteStep(torch.nn.Module):
    def forward(self, q, k, v, log_decay, eta, memory):
        return kernels.decay_write_step(q, k, v, log_decay, eta, memory)


class MomentumStep(torch.nn.Module):
    def forward(self, q, k, v, log_decay, eta, momentum, memory):
        return kernels.momentum_delta_rule_step(q, k, v, log_decay, eta, momentum, memory)


class ChunkStartStep(torch.nn.Module):
    def forward(self, q, k, v, log_decay, eta, momentum, memory, momentum_buffer, anchor, position):
        o, s = kernels.chunk_start_delta_rule_step(
            q, k, v, log_decay, eta, MemoryState(memory, momentum_buffer, anchor, position),
            momentum=momentum, chunk_size=CHUNK)
        return o, s.memory, s.momentum, s.anchor, s.position


CASES = {
    "gated_delta_rule": (GatedDeltaStep, False, [(H, K, V)]),
    "decay_write": (DecayWriteStep, False, [(H, K, V)]),
    "momentum_delta_rule": (MomentumStep, True, [(H, 2, K, V)]),
    "chunk_start_delta_rule": (ChunkStartStep, True, [(H, K, V)] * 3 + [()]),
}


def token(n: int, with_momentum: bool, gen: torch.Generator) -> list[torch.Tensor]:
    keys = torch.nn.functional.normalize(torch.randn(n, H, K, generator=gen), dim=-1)
    inputs = [torch.randn(n, H, K, generator=gen), keys, torch.randn(n, H, V, generator=gen),
              -0.1 * torch.rand(n, H, generator=gen), 0.5 * torch.rand(n, H, generator=gen)]
    return inputs + ([0.9 * torch.rand(n, H, generator=gen)] if with_momentum else [])


def initial_states(n: int, shapes, gen: torch.Generator) -> list[torch.Tensor]:
    return [torch.zeros(n, dtype=torch.int64) if s == () else 0.1 * torch.randn(n, *s, generator=gen) for s in shapes]


@pytest.mark.parametrize("op", CASES)
def test_exported_step_matches_eager_over_64_steps(op, tmp_path):
    module_cls, with_momentum, state_shapes = CASES[op]
    module = module_cls().eval()
    gen = torch.Generator().manual_seed(0)
    example = token(2, with_momentum, gen) + initial_states(2, state_shapes, gen)
    batch = torch.export.Dim("batch", min=1, max=64)
    path = tmp_path / f"{op}.onnx"
    torch.onnx.export(module, tuple(example), str(path), dynamo=True,
                      dynamic_shapes=tuple({0: batch} for _ in example))

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # Every state tensor comes back out: an update that isn't returned would be silently dropped.
    assert len(session.get_outputs()) == 1 + len(state_shapes)
    names = [i.name for i in session.get_inputs()]
    for n in (1, 3):
        state_eager = initial_states(n, state_shapes, gen)
        state_ort = [s.numpy() for s in state_eager]
        for t in range(64):
            step = token(n, with_momentum, gen)
            o_eager, *state_eager = module(*step, *state_eager)
            feeds = dict(zip(names, [x.numpy() for x in step] + state_ort))
            o_ort, *state_ort = session.run(None, feeds)
            assert_close(f"{op} o[{t}] B={n}", o_eager, torch.from_numpy(o_ort), 1e-5)
            assert np.abs(o_ort - o_eager.numpy()).max() <= 1e-5
        for i, (eager, exported) in enumerate(zip(state_eager, state_ort)):
            assert_close(f"{op} state[{i}] B={n}", eager.double(), torch.from_numpy(exported).double(), 1e-5)
