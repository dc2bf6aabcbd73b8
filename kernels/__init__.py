"""Fast-weight ops for the Hope model's memories (kernels.md): each op dispatches to its
naive / chunk / triton face; the ``*_step`` functions are the one-token decode faces."""

from kernels._state import MemoryState, zero_state
from kernels.chunk_start_delta_rule import chunk_start_delta_rule, chunk_start_delta_rule_step
from kernels.decay_write import decay_write, decay_write_step
from kernels.gated_delta_rule import gated_delta_rule, gated_delta_rule_step
from kernels.momentum_delta_rule import momentum_delta_rule, momentum_delta_rule_step

__all__ = [
    "MemoryState",
    "zero_state",
    "gated_delta_rule",
    "gated_delta_rule_step",
    "decay_write",
    "decay_write_step",
    "momentum_delta_rule",
    "momentum_delta_rule_step",
    "chunk_start_delta_rule",
    "chunk_start_delta_rule_step",
]
