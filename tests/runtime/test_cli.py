"""The installed `hope` entry point starts, answers --help and reports versions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from runtime.cli import app


def test_version_command_names_the_kernel_face(monkeypatch):
    monkeypatch.setenv("HOPE_KERNEL_FACE", "naive")
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert "kernels: naive face on cpu" in result.output


def test_bad_kernel_face_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HOPE_KERNEL_FACE", "warp")
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code != 0
    assert "HOPE_KERNEL_FACE must be one of naive, chunk, triton" in str(result.exception)


def test_console_script_is_installed_and_answers_help():
    script = shutil.which("hope", path=str(Path(sys.executable).parent))
    assert script is not None, "the 'hope' console script is not installed next to this Python"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "version" in done.stdout
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("hope 0.1.0")
