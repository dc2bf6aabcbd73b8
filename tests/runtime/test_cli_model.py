"""`hope model import|info` on a tiny GGUF: the checkpoint it writes loads, info reports the sizes,
and a bad path is one line on stderr with exit status 1."""

from __future__ import annotations

import sys

import pytest
import torch
from typer.testing import CliRunner

from personal_nl.importers import import_model, load_imported
from runtime.cli import app, main
from tests.personal_nl.llama_fakes import random_llama, train_tokenizer, write_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return write_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf", random_llama(), train_tokenizer(),
                      qtype="Q8_0")


def test_import_writes_a_checkpoint_that_loads_with_the_same_logits(tiny_gguf, tmp_path):
    result = CliRunner().invoke(app, ["model", "import", str(tiny_gguf), "--out", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    assert "llama → hope" in result.output and "2 layers, vocab 300" in result.output
    loaded = load_imported(tmp_path / "ck")
    ids = torch.randint(0, 300, (1, 16))
    assert torch.equal(loaded.model(ids).logits, import_model(tiny_gguf).model(ids).logits)
    assert loaded.tokenizer.render([{"role": "user", "content": "hi"}]).endswith("<|im_start|>assistant\n")


def test_import_without_out_goes_to_the_data_folder(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["model", "import", str(tiny_gguf)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "models" / "tiny-llama" / "model.safetensors").is_file()


@pytest.mark.parametrize("kind", ["checkpoint", "gguf"])
def test_info_prints_architecture_parameters_layers_and_vocab(tiny_gguf, tmp_path, kind):
    path = tiny_gguf
    if kind == "checkpoint":
        CliRunner().invoke(app, ["model", "import", str(tiny_gguf), "--out", str(tmp_path / "ck")])
        path = tmp_path / "ck"
    result = CliRunner().invoke(app, ["model", "info", str(path)])
    assert result.exit_code == 0, result.output
    params = sum(w.size for w in random_llama().values())
    architecture = "hope (attention), converted from llama" if kind == "checkpoint" else "llama"
    for line in (f"architecture  {architecture}", f"parameters    {params:,}", "layers        2", "vocab         300"):
        assert line in result.output


@pytest.mark.parametrize("verb", ["info", "import"])
def test_bad_path_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys, verb):
    monkeypatch.setattr(sys, "argv", ["hope", "model", verb, str(tmp_path / "nope.gguf")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err == f"Error: no model at {tmp_path / 'nope.gguf'}\n"


def test_corrupt_file_is_one_line_and_exit_1(tiny_gguf, tmp_path, monkeypatch, capsys):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:5000])
    monkeypatch.setattr(sys, "argv", ["hope", "model", "import", str(cut), "--out", str(tmp_path / "ck")])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1
    assert err.startswith(f"Error: {cut} is not a readable GGUF file (truncated or corrupt?)")
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("args", [["model"], ["model", "import"], ["model", "info"]])
def test_help_answers_for_every_model_verb(args):
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0 and "Usage: hope" in result.output


def test_info_without_path_describes_the_bundled_model(tmp_path, monkeypatch):
    from personal_nl.default_model import DefaultModelMissing, find_default_gguf

    try:
        find_default_gguf()
    except DefaultModelMissing as err:
        pytest.skip(str(err))
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path))  # nothing cached: the GGUF itself is read
    result = CliRunner().invoke(app, ["model", "info"])
    assert result.exit_code == 0, result.output
    assert "architecture  llama" in result.output and "layers        30" in result.output
    assert "vocab         49152" in result.output and "tensor types  F32, Q4_1, Q8_0" in result.output
