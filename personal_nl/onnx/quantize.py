"""Quantized copies of an fp32 decode graph: only MatMuls with a constant weight change, so the user's
delta and factor inputs and the KV cache stay fp32."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from personal_nl.onnx import ort

Precision = Literal["fp32", "int8", "int8w", "int4"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8", "int8w", "int4")
QUANTIZED: tuple[Precision, ...] = ("int8", "int8w", "int4")
NBITS_BLOCK = 32  # weights per MatMulNBits scale, as in llama.cpp's Q4/Q8 formats


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
    ort.runtime()
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


