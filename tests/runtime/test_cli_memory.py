"""The memory verbs of `hope` end to end on a tiny imported model: init, chat --plain from stdin with
slash commands, ask, memories list/show/redact/forget/export, sleep, audit verify, settings, and
clear one-line errors with exit status 1."""

from __future__ import annotations

import io
import os
import sys

import pytest
import torch

from personal_nl.importers import import_model, save_imported
from runtime.cli import main
from tests.personal_nl.llama_fakes import random_llama, train_tokenizer, write_hf_folder

PASS = "correct horse battery"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    hf = write_hf_folder(tmp_path_factory.mktemp("hf") / "hf", random_llama(seed=3), train_tokenizer())
    out = tmp_path_factory.mktemp("model") / "tiny"
    save_imported(out, import_model(hf))
    return out


@pytest.fixture
def hope(tmp_path, model_dir, monkeypatch, capsys):
    """Run `hope ARGS` in this process with a passphrase in the environment; (exit code, stdout, stderr)."""
    monkeypatch.setenv("HOPE_PASSPHRASE", PASS)
    words = torch.tensor(train_tokenizer().encode(" the lazy dog fox").ids)  # replies in plain words
    monkeypatch.setattr("personal_nl.generate.pick", lambda logits, *rest: int(words[logits[words].argmax()]))

    def run(*args, stdin="", model=True, data=True):
        argv = ["hope", *args] + (["--data-dir", str(tmp_path / "data")] if data else []) + (
            ["--model", str(model_dir)] if model else [])
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main()
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def ids(hope):
    code, out, _ = hope("memories", "list")
    assert code == 0
    return [line.split()[0] for line in out.splitlines()]


def test_init_chat_and_review(hope):
    assert hope("init", model=False)[0] == 0
    code, _, err = hope("init", model=False)
    assert code == 1 and err.startswith("Error: user 'default' already exists")
    code, out, err = hope("chat", "--plain", stdin="my neighbour Oskar owes me money\n/incognito\nsecret plan\n"
                                                   "/incognito\nI like green tea\n/memories\n/nonsense\n/bye\nnever\n")
    assert code == 0, err
    assert out.count("\n") == 3, err  # three replies; the line after /bye was never read
    assert "(2 memories)" in err and "Unknown command '/nonsense'" in err
    code, out, _ = hope("memories", "list")
    assert [line.split(maxsplit=6)[-1] for line in out.splitlines()] == ["my neighbour Oskar owes me money",
                                                                         "I like green tea"]
    assert [line.split()[4] for line in out.splitlines()] == ["wake+episodic"] * 2  # the levels holding each
    first = ids(hope)[0]
    code, out, _ = hope("memories", "show", first[:6])
    assert code == 0 and "you      my neighbour Oskar owes me money" in out
    code, out, err = hope("memories", "redact", first[:6], "--match", "Oskar", "--yes")
    assert code == 0, err
    assert out.startswith("redacted: 1 record shredded") and "receipt " in out
    code, out, _ = hope("memories", "list")
    assert "my neighbour [REDACTED] owes me money" in out and "redacted" in out


def test_ask_forget_sleep_audit_and_export(hope, tmp_path):
    hope("init", model=False)
    assert hope("ask", "where is the harbour")[0] == 0
    assert hope("ask", "--incognito", "what is my secret")[0] == 0
    assert len(ids(hope)) == 1
    code, _, err = hope("sleep", "--if-pending")
    assert code == 0, err
    code, _, err = hope("sleep", "--if-pending")
    assert code == 0 and "nothing pending" in err
    assert hope("ask", "I play the cello")[0] == 0
    code, out, err = hope("memories", "forget", ids(hope)[0], "--yes")
    assert code == 0, err
    assert "forgotten: 1 record shredded" in out and "2 steps of the log re-learned" in out and "exposure" in out
    assert "re-learns 1 episode and 1 sleep (2 steps of the log" in err  # the plan asked about, same numbers
    code, out, err = hope("audit", "verify", "--state")
    assert code == 0, err
    assert "audit chain verified" in out and "model state verified by replay" in out
    code, out, _ = hope("audit")
    assert "shred" in out and "where is the harbour" not in out
    export = tmp_path / "export.json"
    assert hope("memories", "export", str(export))[0] == 0
    assert oct(export.stat().st_mode & 0o777) == "0o600"
    assert "I play the cello" in export.read_text() and "harbour" not in export.read_text()


def test_settings_status_and_clear_errors(hope, monkeypatch):
    code, _, err = hope("status")
    assert code == 1 and "there is no user in" in err
    hope("init", model=False)
    code, out, err = hope("settings", "set", "never_learn", '["email"]')
    assert code == 0, err
    code, _, err = hope("settings", "set", "idle_sleep_seconds", "5")
    assert code == 1 and err.startswith("Error: idle_sleep_seconds must be a whole number ≥ 10")
    code, out, _ = hope("status")
    assert code == 0 and 'never_learn = ["email"]' in out and "memories    0" in out
    code, _, err = hope("memories", "show", "abcd")
    assert code == 1 and "no memory matches 'abcd'" in err
    monkeypatch.setenv("HOPE_PASSPHRASE", "wrong passphrase")
    code, _, err = hope("status")
    assert code == 1 and err.startswith("Error:") and "passphrase" in err.lower() and PASS not in err


def test_passphrase_from_a_file_descriptor(hope, monkeypatch):
    read, write = os.pipe()
    os.write(write, (PASS + "\n").encode())
    os.close(write)
    monkeypatch.delenv("HOPE_PASSPHRASE")
    try:
        code, out, err = hope("init", "--passphrase-fd", str(read), model=False)
    finally:
        os.close(read)
    assert code == 0, err
    code, _, err = hope("status")
    assert code == 1 and "HOPE_PASSPHRASE" in err  # stdin is not a terminal and no passphrase was given
    monkeypatch.setenv("HOPE_PASSPHRASE", PASS)
    assert hope("status")[0] == 0


def test_bench_times_the_chats_decoding_beside_torch_a_learning_step_and_a_sleep(hope):
    code, out, err = hope("bench", "--tokens", "4", data=False)
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.startswith("reply: onnxruntime int8w") and " ms " in line for line in lines), out
    assert any(line.startswith("reply: torch eager") for line in lines), out
    assert "as fast as eager torch" in out and "learn (wake step)" in out and "sleep on 4 exchanges" in out
