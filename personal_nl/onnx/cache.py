"""Decode graphs on disk: exported and quantized once per (model, levels, precision), then reused.

Files live beside the converted models and are named by a fingerprint of everything an export
depends on, so a changed model, graph format or library version gets a new file, never a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from personal_nl.model import HopeLM
from personal_nl.onnx import ort
from personal_nl.onnx.graph import EXPORT_FORMAT, OPSET, check_supported, export, online_level_keys
from personal_nl.onnx.quantize import PRECISIONS, Precision, quantize


def fingerprint(model: HopeLM, online_layers: Sequence[int] | None = None, slow_layers: Sequence[int] = (),
                weights_id: str | None = None) -> str:
    """What an export depends on: graph format, config, online and slow layers, library versions and
    the weights (``weights_id`` stands in for hashing them, e.g. the default model's GGUF fingerprint)."""
    if weights_id is None:
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy())
        weights_id = digest.hexdigest()
    record = {"format": EXPORT_FORMAT, "opset": OPSET, "config": model.cfg.to_json(),
              "online": list(online_level_keys(model, online_layers)), "slow": sorted(set(slow_layers)),
              "torch": torch.__version__, "onnxruntime": ort.runtime().__version__, "weights": weights_id}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]


def onnx_dir() -> Path:
    """Beside the converted models (``default_model.models_dir()``), so one data folder holds both."""
    from personal_nl.default_model import models_dir

    return models_dir() / "onnx"


def cached_export(model: HopeLM, *, precision: Precision = "fp32", online_layers: Sequence[int] | None = None,
                  slow_layers: Sequence[int] = (), weights_id: str | None = None,
                  directory: str | Path | None = None, keep_fp32: bool = True) -> Path:
    """The decode graph for ``model`` at ``precision``, exported (and quantized) only when no file
    with its fingerprint exists. Files are written beside their final name and renamed into place,
    so a crash or a second process never leaves a half-written graph under the final name.
    ``keep_fp32=False`` deletes the fp32 export once the quantized copy exists (the default model's
    is 654 MB; another precision then exports it again)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    check_supported(model)
    folder = Path(directory) if directory is not None else onnx_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = fingerprint(model, online_layers, slow_layers, weights_id)
    base = folder / f"decode-{key}-fp32.onnx"
    target = base if precision == "fp32" else folder / f"decode-{key}-{precision}.onnx"
    if not target.is_file():
        if not base.is_file():
            _write_atomically(base, lambda tmp: export(model, tmp, online_layers=online_layers,
                                                       slow_layers=slow_layers))
        if target != base:
            _write_atomically(target, lambda tmp: quantize(base, tmp, precision))
    if not keep_fp32 and target != base:
        base.unlink(missing_ok=True)
    return target


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
