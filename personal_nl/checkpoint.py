"""Checkpoints: a directory holding model.safetensors and config.json (plus extra.json if given).

Loading rebuilds the model from its own config and refuses weights that don't fit it, naming the
first mismatching tensor, so a checkpoint can never silently load into the wrong shape.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from personal_nl.config import HopeConfig
from personal_nl.model import HopeLM, from_state_dict

WEIGHTS, CONFIG, EXTRA = "model.safetensors", "config.json", "extra.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or doesn't match the config it claims."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, model: HopeLM, *, extra: dict[str, Any] | None = None) -> Path:
    """Write the model (tied weights once) and its config; each file lands whole or not at all."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        state.pop("head.weight", None)
    _atomic_write(path / WEIGHTS, lambda p: save_file(state, str(p)))
    _atomic_write(path / CONFIG, lambda p: p.write_text(model.cfg.to_json()))
    if extra is not None:
        _atomic_write(path / EXTRA, lambda p: p.write_text(json.dumps(extra, sort_keys=True)))
    return path


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu",
                    expect: HopeConfig | None = None) -> tuple[HopeLM, dict[str, Any]]:
    """Rebuild a model from a checkpoint directory; ``expect`` refuses a checkpoint of another config."""
    path = Path(path)
    for name in (WEIGHTS, CONFIG):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a checkpoint: {name} is missing")
    try:
        cfg = HopeConfig.from_json((path / CONFIG).read_text())
    except (ValueError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path / CONFIG} is not a valid model config: {err}") from None
    if expect is not None and cfg != expect:
        raise CheckpointError(f"{path} holds a different model config than expected")
    try:
        weights = load_file(str(path / WEIGHTS), device=str(map_location))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path / WEIGHTS} is unreadable or corrupt: {err}") from None
    with torch.device("meta"):  # shapes only; the weights come from the file
        expected = {k: v for k, v in HopeLM(cfg).state_dict().items()
                    if not (cfg.tie_embeddings and k == "head.weight")}
    for name, tensor in expected.items():
        if name not in weights:
            raise CheckpointError(f"{path / WEIGHTS} lacks tensor {name!r} that the config needs")
        if weights[name].shape != tensor.shape:
            raise CheckpointError(f"tensor {name!r} has shape {list(weights[name].shape)}, the config needs "
                                  f"{list(tensor.shape)}")
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise CheckpointError(f"{path / WEIGHTS} has tensor {unexpected[0]!r} that the config doesn't know")
    model = from_state_dict(cfg, weights).to(map_location)
    extra = json.loads((path / EXTRA).read_text()) if (path / EXTRA).is_file() else {}
    return model, extra
