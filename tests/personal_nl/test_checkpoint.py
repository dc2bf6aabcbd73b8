"""Checkpoints round-trip exactly and refuse what doesn't fit."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from personal_nl import HopeLM
from personal_nl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from personal_nl.config import tiny


@pytest.mark.parametrize("mixer", ["titans", "attention", "hybrid"])
def test_round_trip_gives_identical_logits(tmp_path, mixer):
    torch.manual_seed(0)
    m = HopeLM(tiny(mixer))
    save_checkpoint(tmp_path / "ck", m, extra={"step": 7})
    loaded, extra = load_checkpoint(tmp_path / "ck")
    ids = torch.randint(0, 259, (1, 20))
    assert extra == {"step": 7} and loaded.cfg == m.cfg
    assert torch.equal(loaded(ids).logits, m(ids).logits)
    assert loaded.head.weight is loaded.embed.weight  # tying survives


def test_mismatched_config_is_refused_naming_the_tensor(tmp_path):
    m = HopeLM(tiny("attention"))
    save_checkpoint(tmp_path / "ck", m)
    bigger = dataclasses.replace(m.cfg, d_model=64)
    (tmp_path / "ck" / "config.json").write_text(bigger.to_json())
    with pytest.raises(CheckpointError, match=r"tensor .embed.weight. has shape \[259, 32\], the config needs"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="different model config than expected"):
        load_checkpoint(tmp_path / "ck", expect=m.cfg)


def test_corrupt_or_missing_files_are_clear_errors(tmp_path):
    m = HopeLM(tiny("attention"))
    save_checkpoint(tmp_path / "ck", m)
    weights = tmp_path / "ck" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="unreadable or corrupt"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="nowhere is not a checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "ck" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid model config"):
        load_checkpoint(tmp_path / "ck")
