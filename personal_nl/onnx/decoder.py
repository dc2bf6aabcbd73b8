"""Decoding on onnxruntime: the same contract as ``personal_nl.generate.stream``, over an exported graph.

    path = cached_export(model, precision="int8w")           # exported once, cached by fingerprint
    decoder = OnnxDecoder(path, threads=2)
    feeds = decoder.feeds(deltas, factors)                    # once per user state, not per token
    for token in decoder.stream(prompt_ids, Sampling(), state, feeds):
        ...
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from personal_nl import generate
from personal_nl.attention import KVCache
from personal_nl.cms import Delta
from personal_nl.generate import Sampling
from personal_nl.model import State
from personal_nl.onnx import ort
from personal_nl.onnx.graph import EXPORT_FORMAT, FACTOR_NAMES

Deltas = tuple[tuple[Delta | None, ...], ...]
# (block, level, weight name) -> (U [out, r], V [r, in]): a low-rank delta U @ V of that weight
LowRank = Mapping[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]]
Cache = list[np.ndarray]  # per layer key then value, [B, H_kv, T_past, D] each
Feeds = dict[str, Any]  # input name -> onnxruntime.OrtValue over a numpy array (kept alive by the OrtValue)


class OnnxDecoder:
    """An onnxruntime session over an exported decode graph (fp32 or quantized). It knows the model
    only through the graph: layer count, cache shapes, online and slow levels are read from its inputs."""

    def __init__(self, path: str | Path, *, threads: int | None = None, spinning: bool = False) -> None:
        onnxruntime = ort.runtime()
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning workers cut latency on an idle machine and stall badly on a shared one (bench/kernels.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("hope.format") != str(EXPORT_FORMAT):
            raise ValueError(f"{path} is not a decode graph of format {EXPORT_FORMAT} "
                             f"(found {meta.get('hope.format')}); export it again")
        self.max_seq_len = int(meta["hope.max_seq_len"])
        self.vocab_size = int(meta["hope.vocab_size"])
        self.levels_per_block = tuple(json.loads(meta["hope.levels_per_block"]))
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        past = [i for i in inputs if i.name.startswith("past.")]
        self.n_layers = len(past) // 2
        self.kv_heads, self.head_dim = past[0].shape[1], past[0].shape[3]
        self.delta_shapes: dict[tuple[int, int, str], tuple[int, ...]] = {}
        factor_shapes: dict[tuple[int, int, str], list] = {}
        for i in inputs:
            kind, *rest = i.name.split(".")
            if kind == "delta_t":
                b, level, n = rest
                self.delta_shapes[(int(b), int(level), n)] = tuple(i.shape[1:][::-1])  # as the State holds it
            elif kind == "factor":
                factor_shapes[(int(rest[0]), int(rest[1]), rest[2])] = i.shape
        # slow level -> (dim, hidden): down's output side is [B, r, dim], its input side [B, hidden, r]
        self.factor_dims = {(b, i): (factor_shapes[(b, i, "down_out")][2], shape[1])
                            for (b, i, name), shape in factor_shapes.items() if name == "down_in"}
        self.online = tuple(sorted({(b, i) for b, i, _ in self.delta_shapes}))
        self.slow = tuple(sorted(self.factor_dims))
        self.output_names = [o.name for o in self.session.get_outputs()]

    def initial_cache(self, batch: int = 1) -> Cache:
        return [np.zeros((batch, self.kv_heads, 0, self.head_dim), np.float32) for _ in range(2 * self.n_layers)]

    def feeds(self, deltas: Deltas | None = None, factors: LowRank | None = None, batch: int = 1) -> Feeds:
        """The graph's user inputs: full deltas (a State's ``cms``) on the online levels and low-rank
        factors on the slow ones, zeros where a level has none. Made once per user state: the default
        model's deltas are 30 MB, transposed here rather than in the graph at every token, and bound
        as onnxruntime values, which a call then reads in place (numpy inputs are converted at every
        call: a quarter of a step's time for the default model, measured)."""
        given: dict[tuple[int, int], Delta] = {}
        for b, levels in enumerate(deltas or ()):
            for i, delta in enumerate(levels):
                if delta is not None:
                    if (b, i) not in self.online:
                        raise ValueError(f"block {b} level {i} has a delta but {self.path.name} was exported "
                                         f"without it; export with online_layers including {b}")
                    given[(b, i)] = delta
        feeds: dict[str, np.ndarray] = {}
        for (b, i, n), shape in self.delta_shapes.items():
            delta = given.get((b, i))
            if delta is None:
                feeds[f"delta_t.{b}.{i}.{n}"] = np.zeros((batch, *shape[::-1]), np.float32)
                continue
            if tuple(delta[n].shape) != (batch, *shape):
                raise ValueError(f"delta {b}.{i}.{n} has shape {list(delta[n].shape)}, expected {[batch, *shape]}")
            feeds[f"delta_t.{b}.{i}.{n}"] = _numpy(delta[n].transpose(1, 2))
        feeds.update(self._factor_feeds(factors or {}, batch))
        value = ort.runtime().OrtValue.ortvalue_from_numpy
        return {name: value(array) for name, array in feeds.items()}

    def _factor_feeds(self, factors: LowRank, batch: int) -> dict[str, np.ndarray]:
        """Per slow level: gate and up share one input side [dim, 2r] and a block-diagonal output side
        [2r, 2·hidden]; down has [hidden, r] and [r, dim]. Ranks are padded with zeros to the largest."""
        unknown = sorted({(b, i) for b, i, _ in factors} - set(self.slow))
        if unknown:
            raise ValueError(f"block {unknown[0][0]} level {unknown[0][1]} has factors but {self.path.name} was "
                             "exported without it; export with slow_layers including it")
        rank = max((u.shape[1] for u, _ in factors.values()), default=1)
        feeds: dict[str, np.ndarray] = {}
        for (b, i), (dim, hidden) in self.factor_dims.items():
            gate_in, gate_out = _thin_pair(factors.get((b, i, "gate")), hidden, dim, rank, f"{b}.{i}.gate")
            up_in, up_out = _thin_pair(factors.get((b, i, "up")), hidden, dim, rank, f"{b}.{i}.up")
            down_in, down_out = _thin_pair(factors.get((b, i, "down")), dim, hidden, rank, f"{b}.{i}.down")
            gate_up_out = np.zeros((2 * rank, 2 * hidden), np.float32)
            gate_up_out[:rank, :hidden], gate_up_out[rank:, hidden:] = gate_out, up_out
            for name, array in zip(FACTOR_NAMES, (np.concatenate([gate_in, up_in], axis=1), gate_up_out,
                                                  down_in, down_out), strict=True):
                feeds[f"factor.{b}.{i}.{name}"] = np.ascontiguousarray(np.broadcast_to(array, (batch, *array.shape)))
        return feeds

    def forward(self, ids: np.ndarray, cache: Cache, feeds: Feeds) -> tuple[np.ndarray, Cache]:
        """ids [B, T] int64 after ``cache`` -> (logits [B, vocab] of the last position, grown cache)."""
        B, T = ids.shape
        if B > 1 and T > 1 and cache[0].shape[2] > 0:
            raise ValueError(f"onnxruntime's attention reads {T} tokens after a cache only at batch 1, got batch {B}; "
                             "feed them one at a time")
        binding = self.session.io_binding()
        binding.bind_cpu_input("ids", np.ascontiguousarray(ids, dtype=np.int64))
        for name, array in zip(self.input_names[1:1 + 2 * self.n_layers], cache, strict=True):
            binding.bind_cpu_input(name, array)
        for name, value in feeds.items():
            binding.bind_ortvalue_input(name, value)
        for name in self.output_names:
            binding.bind_output(name)
        self.session.run_with_iobinding(binding)
        logits, *present = binding.copy_outputs_to_cpu()
        return logits, present

    def stream(self, prompt: Sequence[int], sampling: Sampling | None = None, state: State | None = None,
               feeds: Feeds | None = None) -> Generator[int, None, State]:
        """Like ``generate.stream``: yield new token ids; the return value is a torch State holding the
        cache (and the state's CMS deltas), which has read every yielded token. ``state`` carries the
        position and cache; ``feeds`` the user's inputs (default: the state's CMS deltas, no factors)."""
        if not prompt:
            raise ValueError("prompt must hold at least one token")
        sampling = sampling or Sampling()
        position = state.position if state is not None else 0
        if position + len(prompt) > self.max_seq_len:
            raise ValueError(f"prompt of {len(prompt)} tokens after {position} exceeds max_seq_len {self.max_seq_len}")
        cms = state.cms if state is not None else ()
        cache = self.initial_cache() if state is None or position == 0 else _cache_from_state(state)
        feeds = self.feeds(cms) if feeds is None else feeds
        gen = torch.Generator().manual_seed(sampling.seed)
        logits, cache = self.forward(np.asarray([list(prompt)]), cache, feeds)
        position, seen = position + len(prompt), list(prompt)
        for _ in range(sampling.max_new_tokens):
            if position >= self.max_seq_len:
                break
            token = generate.pick(torch.from_numpy(logits[0]), seen, sampling, gen)
            if token in sampling.stop_ids:
                break
            yield token
            seen.append(token)
            logits, cache = self.forward(np.asarray([[token]]), cache, feeds)
            position += 1
        mixers = tuple(KVCache(torch.from_numpy(cache[2 * b]), torch.from_numpy(cache[2 * b + 1]))
                       for b in range(self.n_layers))
        return State(position, mixers, cms or tuple((None,) * n for n in self.levels_per_block))


def _thin_pair(pair: tuple[torch.Tensor, torch.Tensor] | None, out_dim: int, in_dim: int, rank: int,
               name: str) -> tuple[np.ndarray, np.ndarray]:
    """(Vᵀ [in, rank], Uᵀ [rank, out]) of a low-rank delta U @ V, zero-padded to ``rank``; zeros for None."""
    vt, ut = np.zeros((in_dim, rank), np.float32), np.zeros((rank, out_dim), np.float32)
    if pair is not None:
        u, v = pair
        r = u.shape[1]
        if tuple(u.shape) != (out_dim, r) or tuple(v.shape) != (r, in_dim):
            raise ValueError(f"factors {name} are U {list(u.shape)} and V {list(v.shape)}; "
                             f"U @ V must be {[out_dim, in_dim]}")
        vt[:, :r], ut[:r] = _numpy(v.t()), _numpy(u.t())
    return vt, ut


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def _cache_from_state(state: State) -> Cache:
    cache = []
    for mixer in state.mixers:
        if not isinstance(mixer, KVCache):
            raise ValueError("the state holds no KV cache for every layer; only attention models decode here")
        cache += [_numpy(t) for t in mixer]
    return cache
