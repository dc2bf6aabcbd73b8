"""An onnxruntime backend for decoding attention (Llama-converted) Hope models (issue 4, "Fast decoding").

One exported graph reads ``ids [B, T]`` after a KV cache and returns the last position's logits and
the grown cache. Everything that depends on the user is a graph input: the cache, and the CMS deltas
of the levels that learn online, so learning never forces a re-export. A delta enters as its own
small matmul beside the base weight's (x·Wᵀ + x·Δᵀ): the base MatMul keeps a constant weight that
int8 or int4 quantization can replace (``quantize``), which whole learned weights fed as inputs
would prevent (issue 4 measured −25 % speed for 6 layers kept out of quantization).

    path = cached_export(model, precision="int8")          # exported once, cached by fingerprint
    decoder = OnnxDecoder(path, threads=2)
    for token in decoder.stream(prompt_ids, Sampling(), state):   # same contract as generate.stream
        ...
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from personal_nl.attention import KVCache
from personal_nl.cms import DELTA_NAMES, Delta
from personal_nl.generate import Sampling, pick
from personal_nl.layers import rope_tables
from personal_nl.model import HopeLM, State
from personal_nl.onnx_attention import attention_op, translation_table

log = logging.getLogger(__name__)

Precision = Literal["fp32", "int8", "int8w", "int4"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8", "int8w", "int4")
QUANTIZED: tuple[Precision, ...] = ("int8", "int8w", "int4")
LevelKey = tuple[int, int]  # (block, level)
Deltas = tuple[tuple[Delta | None, ...], ...]
Cache = list[np.ndarray]  # per layer key then value, [B, H_kv, T_past, D] each
EXPORT_FORMAT = 2  # bump when the graph changes, so cached exports are rebuilt
OPSET = 18
NBITS_BLOCK = 32  # weights per MatMulNBits scale, as in llama.cpp's Q4/Q8 formats


class UnsupportedModel(ValueError):
    """The model has parts this backend cannot export (Titans or hybrid mixers)."""


def online_level_keys(model: HopeLM, online_layers: Sequence[int] | None = None) -> tuple[LevelKey, ...]:
    """The (block, level) pairs whose deltas become graph inputs: every level of ``online_layers``,
    or by default every level that learns while reading (online, lr > 0)."""
    if online_layers is None:
        return tuple(sorted((b, i) for b, block in enumerate(model.blocks) for i, lvl in enumerate(block.cms.levels)
                            if lvl.spec.online and lvl.spec.lr > 0))
    bad = [b for b in online_layers if not 0 <= b < model.cfg.n_layers]
    if bad:
        raise ValueError(f"layer {bad[0]} does not exist; the model has {model.cfg.n_layers} layers")
    return tuple((b, i) for b in sorted(set(online_layers)) for i in range(len(model.blocks[b].cms.levels)))


def check_supported(model: HopeLM) -> None:
    other = sorted({m for m in model.cfg.mixers if m != "attention"})
    if other:
        raise UnsupportedModel(f"the onnxruntime decoder handles attention mixers only; this model has {other[0]!r} "
                               "layers (decode it with personal_nl.generate.stream)")


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # x / sqrt(·), not x · rsqrt(·): the form onnxruntime fuses into one SimplifiedLayerNormalization.
    return weight * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class _DecodeGraph(nn.Module):
    """The model's math for export, in fp32 with every weight pre-transposed so each projection is
    ``MatMul(x, constant)``, the form onnxruntime's quantizers recognise; attention, RoPE and the
    cache growth are one GroupQueryAttention node per layer (``personal_nl.onnx_attention``)."""

    def __init__(self, model: HopeLM, levels: tuple[LevelKey, ...]) -> None:
        super().__init__()
        cfg = model.cfg
        self.n_heads, self.n_kv, self.eps = cfg.n_heads, cfg.kv_heads, cfg.norm_eps
        self.levels = set(levels)
        self.n_levels = [len(block.cms.levels) for block in model.blocks]

        def keep(name: str, *ws: torch.Tensor, transpose: bool = False) -> None:
            """One buffer; several weights are stacked along the output so they share one MatMul (one
            activation quantization and one kernel call instead of several in quantized graphs)."""
            w = torch.cat([w.detach().to(torch.float32) for w in ws], dim=0)
            self.register_buffer(name, w.t().contiguous() if transpose else w.clone(), persistent=False)

        keep("embed", model.embed.weight)
        keep("head_t", model.head.weight, transpose=True)
        keep("norm", model.norm.weight)
        cos, sin = rope_tables(torch.arange(cfg.max_seq_len), cfg.dim_head, cfg.rope_theta, torch.float32)
        keep("cos", cos[:, :cfg.dim_head // 2])  # rotate-half tables repeat their first half
        keep("sin", sin[:, :cfg.dim_head // 2])
        self.attend = attention_op()
        for b, block in enumerate(model.blocks):
            keep(f"b{b}_norm", block.norm.weight)
            mixer = block.mixer
            keep(f"b{b}_qkv_t", mixer.q_proj.weight, mixer.k_proj.weight, mixer.v_proj.weight, transpose=True)
            keep(f"b{b}_o_t", mixer.o_proj.weight, transpose=True)
            for i, level in enumerate(block.cms.levels):
                keep(f"b{b}_l{i}_norm", level.norm.weight)
                keep(f"b{b}_l{i}_gate_up_t", level.mlp.gate, level.mlp.up, transpose=True)
                keep(f"b{b}_l{i}_down_t", level.mlp.down, transpose=True)

    def w(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def forward(self, ids: torch.Tensor, past: list[torch.Tensor], deltas: list[torch.Tensor]
                ) -> tuple[torch.Tensor, ...]:
        """ids [B, T]; past 2·L tensors [B, H_kv, P, D]; deltas 3 per online level, transposed like the
        weights ([B, in, out]) -> logits [B, vocab] at the last position, then the 2·L grown caches."""
        B, T = ids.shape
        P = past[0].shape[2]
        H, Hkv = self.n_heads, self.n_kv
        x = F.embedding(ids, self.embed)  # [B, T, D]
        seqlens_k = torch.full((B,), P + T - 1, dtype=torch.int32, device=ids.device)
        total = torch.full((), P + T, dtype=torch.int32, device=ids.device)
        given = iter(deltas)
        present = []
        for b in range(len(self.n_levels)):
            h = _rms(x, self.w(f"b{b}_norm"), self.eps)
            qkv = h @ self.w(f"b{b}_qkv_t")  # [B, T, (H + 2·Hkv)·Dh]
            y, k, v = self.attend(qkv, past[2 * b], past[2 * b + 1], seqlens_k, total, self.cos, self.sin, H, Hkv)
            present += [k, v]  # [B, Hkv, P+T, Dh] each
            x = x + y @ self.w(f"b{b}_o_t")
            for i in range(self.n_levels[b]):
                h = _rms(x, self.w(f"b{b}_l{i}_norm"), self.eps)
                gate, up = (h @ self.w(f"b{b}_l{i}_gate_up_t")).chunk(2, dim=-1)  # [B, T, hidden] each
                if (b, i) in self.levels:  # θ₀ stays a constant; the user's delta is a separate input
                    d_gate, d_up, d_down = next(given), next(given), next(given)
                    gate = gate + h @ d_gate
                    up = up + h @ d_up
                    h = F.silu(gate) * up
                    x = x + h @ self.w(f"b{b}_l{i}_down_t") + h @ d_down
                else:
                    x = x + (F.silu(gate) * up) @ self.w(f"b{b}_l{i}_down_t")
        logits = _rms(x[:, -1], self.norm, self.eps) @ self.head_t  # [B, vocab]
        return (logits, *present)


def input_names(n_layers: int, levels: Sequence[LevelKey]) -> list[str]:
    past = [f"past.{b}.{kv}" for b in range(n_layers) for kv in ("key", "value")]
    return ["ids", *past, *(f"delta_t.{b}.{i}.{n}" for b, i in levels for n in DELTA_NAMES)]


def export(model: HopeLM, path: str | Path, *, online_layers: Sequence[int] | None = None) -> Path:
    """Write the fp32 decode graph of ``model`` to ``path`` (ONNX, opset 18, one file). Batch, new
    tokens and cache length are symbolic; the deltas of ``online_layers`` (default: the levels that
    learn online) are inputs. Raises UnsupportedModel for Titans or hybrid mixers."""
    check_supported(model)
    cfg = model.cfg
    levels = online_level_keys(model, online_layers)
    graph = _DecodeGraph(model, levels).eval()
    B, T, P = 2, 3, 5  # example sizes: none is 0 or 1, which the exporter would freeze as constants
    ids = torch.zeros(B, T, dtype=torch.int64)
    past = [torch.zeros(B, cfg.kv_heads, P, cfg.dim_head) for _ in range(2 * cfg.n_layers)]
    weights = {key: model.blocks[key[0]].cms.levels[key[1]].weights() for key in levels}
    deltas = [torch.zeros(B, *weights[key][n].shape[::-1]) for key in levels for n in DELTA_NAMES]
    batch = torch.export.Dim("batch", min=1, max=1024)
    new = torch.export.Dim("new", min=1, max=cfg.max_seq_len)
    past_len = torch.export.Dim("past", min=0, max=cfg.max_seq_len)
    shapes = ({0: batch, 1: new}, [{0: batch, 2: past_len}] * len(past), [{0: batch}] * len(deltas))
    outputs = ["logits", *(f"present.{b}.{kv}" for b in range(cfg.n_layers) for kv in ("key", "value"))]
    started = time.perf_counter()
    # The exporter narrates every stage on stdout and warns about optional packages: a library stays quiet.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(graph, (ids, past, deltas), dynamo=True, opset_version=OPSET,
                                        input_names=input_names(cfg.n_layers, levels), output_names=outputs,
                                        dynamic_shapes=shapes, custom_translation_table=translation_table(),
                                        verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.model.metadata_props.update({
        "hope.format": str(EXPORT_FORMAT), "hope.max_seq_len": str(cfg.max_seq_len),
        "hope.vocab_size": str(cfg.vocab_size),
        "hope.levels_per_block": json.dumps([len(block.cms.levels) for block in model.blocks])})
    path = Path(path)
    program.save(str(path), external_data=False)
    log.info("exported the decode graph (%d layers, %d online levels) in %.1f s", cfg.n_layers, len(levels),
             time.perf_counter() - started)
    return path


def _projection_matmuls(model: Any) -> list[str]:
    """Names of the MatMuls with a constant weight: the only ones quantization may touch (the delta
    products multiply two runtime inputs and stay fp32)."""
    constants = {init.name for init in model.graph.initializer}
    constants |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in constants]


def quantize(source: str | Path, target: str | Path, precision: Precision) -> Path:
    """A quantized copy of an fp32 export. Only MatMuls with a constant weight change, so the delta
    inputs and the KV cache stay fp32.

    int8: ``quantize_dynamic``, int8 weights per output channel, activations quantized per call as
    one tensor (SmolLM2's outlier channels make this the least accurate; docs/BENCHMARKS.md).
    int8w: ``MatMulNBits`` weight-only, 8 bits, asymmetric blocks of 32 along the input.
    int4: ``MatMulNBits``, 4 bits, asymmetric blocks of 32 (the layout of llama.cpp's Q4_1, which
    the default model's layers come from; a uint4 zero point still moves each block by up to half
    a step); the head, which every logit reads, keeps 8 bits.
    The MatMulNBits kernels take activations as int8 per block (accuracy level 4: the fast path on
    CPUs with VNNI; level 0 keeps them fp32 and measured slower here)."""
    import onnx

    if precision not in QUANTIZED:
        raise ValueError(f"precision must be one of {', '.join(QUANTIZED)}, got {precision!r}")
    model = onnx.load(str(source))
    root = logging.getLogger()
    # The quantizers' module calls logging.basicConfig(level=INFO) on import and logs through the
    # root logger (configuring it when nothing has), suggesting their pre-processing at every call.
    with _root_logging_kept():
        root.addFilter(_no_preprocessing_hint)
        try:
            _quantize(model, Path(target), precision)
        finally:
            root.removeFilter(_no_preprocessing_hint)
    return Path(target)


def _quantize(model: Any, target: Path, precision: Precision) -> None:
    with _root_logging_kept():  # undo the import's INFO level before anything logs
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    if precision == "int8":
        quantize_dynamic(model, str(target), op_types_to_quantize=["MatMul"],
                         nodes_to_quantize=_projection_matmuls(model), weight_type=QuantType.QInt8,
                         per_channel=True, extra_options={"MatMulConstBOnly": True})
        return
    # MatMuls without a constant weight (the delta products) are left alone by the quantizer.
    head = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] == "head_t"]
    if precision == "int4":
        layers = MatMulNBitsQuantizer(model, bits=4, block_size=NBITS_BLOCK, is_symmetric=False,
                                      accuracy_level=4, nodes_to_exclude=head)
        layers.process()
        model = layers.model.model
    rest = MatMulNBitsQuantizer(model, bits=8, block_size=NBITS_BLOCK, is_symmetric=False, accuracy_level=4)
    rest.process()
    rest.model.save_model_to_file(str(target), use_external_data_format=False)


def _no_preprocessing_hint(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Please consider to run pre-processing")


@contextlib.contextmanager
def _root_logging_kept() -> Iterator[None]:
    """Undo what an import does to the root logger: the application, not a library, configures logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


# -- cache on disk -----------------------------------------------------------------------------------


def fingerprint(model: HopeLM, levels: Sequence[LevelKey], weights_id: str | None = None) -> str:
    """What an export depends on: graph format, config, online levels, library versions and the
    weights (``weights_id`` stands in for hashing them, e.g. the default model's GGUF fingerprint)."""
    import onnxruntime

    if weights_id is None:
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy())
        weights_id = digest.hexdigest()
    record = {"format": EXPORT_FORMAT, "opset": OPSET, "config": model.cfg.to_json(), "levels": list(levels),
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "weights": weights_id}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def onnx_dir() -> Path:
    """Beside the converted models (``default_model.models_dir()``), so one data folder holds both."""
    from personal_nl.default_model import models_dir

    return models_dir() / "onnx"


def cached_export(model: HopeLM, *, precision: Precision = "fp32", online_layers: Sequence[int] | None = None,
                  weights_id: str | None = None, directory: str | Path | None = None) -> Path:
    """The decode graph for ``model`` at ``precision``, exported (and quantized) only when no file
    with its fingerprint exists. Files are written beside their final name and renamed into place,
    so a crash or a second process never leaves a half-written graph under the final name."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    check_supported(model)
    folder = Path(directory) if directory is not None else onnx_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = fingerprint(model, online_level_keys(model, online_layers), weights_id)
    base = folder / f"decode-{key}-fp32.onnx"
    if not base.is_file():
        _write_atomically(base, lambda tmp: export(model, tmp, online_layers=online_layers))
    if precision == "fp32":
        return base
    target = folder / f"decode-{key}-{precision}.onnx"
    if not target.is_file():
        _write_atomically(target, lambda tmp: quantize(base, tmp, precision))
    return target


def _write_atomically(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- running it --------------------------------------------------------------------------------------


class OnnxDecoder:
    """An onnxruntime session over an exported decode graph (fp32 or quantized). It knows the model
    only through the graph: layer count, cache shapes and online levels are read from its inputs."""

    def __init__(self, path: str | Path, *, threads: int | None = None, spinning: bool = False) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning workers cut latency on an idle machine and stall badly on a shared one (bench/kernels.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
        for i in inputs:
            if i.name.startswith("delta_t."):
                _, b, level, n = i.name.split(".")
                self.delta_shapes[(int(b), int(level), n)] = tuple(i.shape[1:][::-1])  # as the State holds it
        self.levels = tuple(sorted({(b, i) for b, i, _ in self.delta_shapes}))
        self.output_names = [o.name for o in self.session.get_outputs()]

    def initial_cache(self, batch: int = 1) -> Cache:
        return [np.zeros((batch, self.kv_heads, 0, self.head_dim), np.float32) for _ in range(2 * self.n_layers)]

    def delta_feeds(self, deltas: Deltas | None, batch: int = 1) -> dict[str, np.ndarray]:
        """The graph's delta inputs from a State's ``cms`` (zeros where a level has none yet), transposed
        once here rather than in the graph at every token: the default model's deltas are 30 MB."""
        given = {}
        for b, levels in enumerate(deltas or ()):
            for i, delta in enumerate(levels):
                if delta is None:
                    continue
                if (b, i) not in self.levels:
                    raise ValueError(f"block {b} level {i} has a delta but {self.path.name} was exported without "
                                     f"it; export with online_layers including {b}")
                given[(b, i)] = delta
        feeds = {}
        for (b, i, n), shape in self.delta_shapes.items():
            delta = given.get((b, i))
            if delta is None:
                feeds[f"delta_t.{b}.{i}.{n}"] = np.zeros((batch, *shape[::-1]), np.float32)
                continue
            if tuple(delta[n].shape) != (batch, *shape):
                raise ValueError(f"delta {b}.{i}.{n} has shape {list(delta[n].shape)}, expected {[batch, *shape]}")
            array = delta[n].detach().to("cpu", torch.float32).transpose(1, 2).contiguous().numpy()
            feeds[f"delta_t.{b}.{i}.{n}"] = array
        return feeds

    def forward(self, ids: np.ndarray, cache: Cache, deltas: dict[str, np.ndarray]) -> tuple[np.ndarray, Cache]:
        """ids [B, T] int64 after ``cache`` -> (logits [B, vocab] of the last position, grown cache)."""
        B, T = ids.shape
        if B > 1 and T > 1 and cache[0].shape[2] > 0:
            raise ValueError(f"onnxruntime's attention reads {T} tokens after a cache only at batch 1, got batch {B}; "
                             "feed them one at a time")
        feeds = dict(deltas)
        feeds["ids"] = np.ascontiguousarray(ids, dtype=np.int64)
        feeds.update(zip(self.input_names[1:1 + 2 * self.n_layers], cache))
        logits, *present = self.session.run(self.output_names, feeds)
        return logits, present

    def stream(self, prompt: Sequence[int], sampling: Sampling | None = None, state: State | None = None,
               ) -> Generator[int, None, State]:
        """Like ``generate.stream``: yield new token ids; the return value is a torch State holding the
        cache and the deltas, which has read every yielded token. ``state`` carries the position, cache
        and CMS deltas (a fresh user state: ``user_state.fresh(model, deltas)``)."""
        if not prompt:
            raise ValueError("prompt must hold at least one token")
        sampling = sampling or Sampling()
        position = state.position if state is not None else 0
        if position + len(prompt) > self.max_seq_len:
            raise ValueError(f"prompt of {len(prompt)} tokens after {position} exceeds max_seq_len {self.max_seq_len}")
        cms = state.cms if state is not None else ()
        cache = self.initial_cache() if state is None or position == 0 else _cache_from_state(state)
        deltas = self.delta_feeds(cms)
        gen = torch.Generator().manual_seed(sampling.seed)
        logits, cache = self.forward(np.asarray([list(prompt)]), cache, deltas)
        position, seen = position + len(prompt), list(prompt)
        for _ in range(sampling.max_new_tokens):
            if position >= self.max_seq_len:
                break
            token = pick(torch.from_numpy(logits[0]), seen, sampling, gen)
            if token in sampling.stop_ids:
                break
            yield token
            seen.append(token)
            logits, cache = self.forward(np.asarray([[token]]), cache, deltas)
            position += 1
        mixers = tuple(KVCache(torch.from_numpy(cache[2 * b]), torch.from_numpy(cache[2 * b + 1]))
                       for b in range(self.n_layers))
        return State(position, mixers, cms or tuple((None,) * n for n in self.levels_per_block))


def _cache_from_state(state: State) -> Cache:
    cache = []
    for mixer in state.mixers:
        if not isinstance(mixer, KVCache):
            raise ValueError("the state holds no KV cache for every layer; only attention models decode here")
        cache += [np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy()) for t in mixer]
    return cache
