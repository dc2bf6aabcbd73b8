"""Pretrained Llama-family models (GGUF files, Hugging Face folders) as Hope-Attention models with
their tokenizer and chat template, written as our own checkpoint so they load without the source.

``import_model(path)`` converts; ``save_imported`` / ``load_imported`` keep the result as
model.safetensors + config.json + extra.json (the source) + the tokenizer files; ``describe(path)``
reads sizes from any of the three without converting anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from personal_nl.chat import ChatTokenizer
from personal_nl.checkpoint import CONFIG, EXTRA, WEIGHTS, load_checkpoint, save_checkpoint
from personal_nl.config import HopeConfig
from personal_nl.importers import gguf as gguf_importer
from personal_nl.importers import hf as hf_importer
from personal_nl.importers.llama import Progress
from personal_nl.model import HopeLM

Format = Literal["gguf", "hf", "checkpoint"]


class Imported(NamedTuple):
    model: HopeLM
    tokenizer: ChatTokenizer
    source: dict[str, Any]  # format, architecture, file, name (+ tensor types for GGUF)


@dataclass(frozen=True)
class ModelInfo:
    """What ``hope model info`` shows: sizes as the converted model would have them."""

    format: Format
    architecture: str
    name: str
    parameters: int
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    vocab_size: int
    context: int
    tensor_types: tuple[str, ...] = ()


def detect(path: str | Path) -> Format:
    """Which kind of model lives at path: a GGUF file, a Hugging Face folder or one of our checkpoints."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.is_file():
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ValueError(f"{path} is not a GGUF file (it doesn't start with the GGUF magic)")
        return "gguf"
    config = path / CONFIG
    if not config.is_file():
        raise ValueError(f"{path} holds no model: expected config.json (a checkpoint or Hugging Face folder)")
    try:
        keys = json.loads(config.read_text(encoding="utf-8")).keys()
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"{config} is not a JSON object: {err}") from None
    return "checkpoint" if "mixers" in keys else "hf"


def import_model(path: str | Path, *, period: int | None = None, on_progress: Progress | None = None) -> Imported:
    """Convert a GGUF file or a Hugging Face Llama-family folder (hope-spec §5: each layer's MLP
    becomes one CMS level at learning rate 0; ``period`` defaults to the context length)."""
    kind = detect(path)
    if kind == "gguf":
        return Imported(*gguf_importer.import_gguf(path, period=period, on_progress=on_progress))
    if kind == "hf":
        return Imported(*hf_importer.import_hf(path, period=period, on_progress=on_progress))
    raise ValueError(f"{path} is already a Hope checkpoint; load it with load_imported")


def save_imported(directory: str | Path, imported: Imported) -> Path:
    """Write model, tokenizer and source description into one self-contained checkpoint folder."""
    directory = save_checkpoint(directory, imported.model, extra={"source": imported.source})
    imported.tokenizer.save(directory)
    return directory


def load_imported(directory: str | Path, *, map_location: str | torch.device = "cpu") -> Imported:
    """A checkpoint written by ``save_imported``; anything missing or corrupt is a ValueError."""
    model, extra = load_checkpoint(directory, map_location=map_location)
    return Imported(model, ChatTokenizer.load(directory), extra.get("source", {}))


def _count(cfg: HopeConfig) -> int:
    with torch.device("meta"):  # sizes only: no memory, no initialisation
        return HopeLM(cfg).num_params()


def describe(path: str | Path) -> ModelInfo:
    """Architecture and sizes of the model at path, from its metadata alone (nothing is dequantized)."""
    kind = detect(path)
    path = Path(path)
    types: tuple[str, ...] = ()
    if kind == "gguf":
        reader, meta, shape = gguf_importer.read_gguf(path)
        cfg, arch, name = shape.hope_config(), meta["general.architecture"], meta.get("general.name", path.stem)
        types = tuple(sorted({t.tensor_type.name for t in reader.tensors}))
    elif kind == "hf":
        config = hf_importer.read_config(path)
        cfg, arch, name = hf_importer.llama_shape(config).hope_config(), config["model_type"], path.name
    else:
        if not (path / WEIGHTS).is_file():
            raise ValueError(f"{path} is not a checkpoint: {WEIGHTS} is missing")
        try:
            cfg = HopeConfig.from_json((path / CONFIG).read_text(encoding="utf-8"))
            extra = json.loads((path / EXTRA).read_text(encoding="utf-8")) if (path / EXTRA).is_file() else {}
        except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError
            raise ValueError(f"{path} has an unreadable config or extra.json: {err}") from None
        source = extra.get("source", {}) if isinstance(extra, dict) else {}
        mixers = "+".join(sorted(set(cfg.mixers)))
        arch = f"hope ({mixers})" + (f", converted from {source['architecture']}" if "architecture" in source else "")
        name = source.get("name", path.name)
    return ModelInfo(format=kind, architecture=arch, name=name, parameters=_count(cfg), layers=cfg.n_layers,
                     d_model=cfg.d_model, heads=cfg.n_heads, kv_heads=cfg.kv_heads, vocab_size=cfg.vocab_size,
                     context=cfg.max_seq_len, tensor_types=types)


__all__ = ["Imported", "ModelInfo", "describe", "detect", "import_model", "load_imported", "save_imported"]
