"""However `hope app` or a `hope` command fails on a damaged, altered or locked store, the person sees
one line on stderr and a non-zero status: never a traceback, whose locals would show the passphrase,
data keys and other memories' text."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from runtime.assistant import Assistant
from runtime.users import create_user, unlock

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery"
TOLD = ("my locker code is zebrafinch", "my sister lives in Quillhaven")
SECRETS = (PASS, "zebrafinch", "Quillhaven", "locker code")

# `hope app` through the real entry point, headless on the tiny brain; once the chat is open it shows
# the memories (f2), which reads every episode, and ends by itself if nothing failed.
APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    import runtime.tui.app as tui
    from tests.runtime.tiny_brain import tiny_brain

    root, then = sys.argv[1], sys.argv[2]

    class Headless(tui.HopeApp):
        CSS_PATH = str(Path(tui.__file__).with_name("hope.tcss"))

        def __init__(self, **kwargs):
            super().__init__(**(kwargs | {"brain_factory": tiny_brain}))

        def run(self, **kwargs):
            return super().run(headless=True, size=(100, 30))

        async def _opened(self):
            await super()._opened()
            if then == "boom":
                raise RuntimeError("a message quoting " + self.passphrase)
            await self.action_memories()
            self.set_timer(5, self.exit)

    tui.HopeApp = Headless
    from runtime.cli import main
    sys.argv = ["hope", "app", "--data-dir", root]
    main()
""")
CLI = "import sys; sys.argv[0] = 'hope'; from runtime.cli import main; main()"


@pytest.fixture(scope="module")
def told(brain, tmp_path_factory) -> Path:
    """A data folder where 'ana' told two things (the stored text the reports must not show)."""
    root = tmp_path_factory.mktemp("told")
    a = Assistant.open(create_user("ana", PASS, root=root), brain)
    for text in TOLD:
        "".join(a.turn(text))
    a.close(sleep=False)
    return root


@pytest.fixture
def data(told, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(told, root)
    return root


def sql(root: Path, statement: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(root / "users" / "ana" / "store.db")) as conn, conn:
        return conn.execute(statement, params).fetchall()


def garbage_vault(root: Path) -> None:
    (root / "users" / "ana" / "vault.json").write_bytes(b"\x00garbage{")


def truncated_vault(root: Path) -> None:
    vault = root / "users" / "ana" / "vault.json"
    vault.write_bytes(vault.read_bytes()[:120])


def flipped_episode_byte(root: Path) -> None:
    (payload,) = sql(root, "SELECT payload FROM records WHERE kind = 'episode' ORDER BY seq DESC LIMIT 1")[0]
    flipped = payload[:20] + bytes([payload[20] ^ 1]) + payload[21:]
    sql(root, "UPDATE records SET payload = ? WHERE payload = ?", (flipped, payload))


def damaged_database(root: Path) -> None:
    db = root / "users" / "ana" / "store.db"
    data = bytearray(db.read_bytes())
    data[4096:4104] = bytes(b ^ 0xFF for b in data[4096:4104])  # the header of the second page
    db.write_bytes(bytes(data))


def extended_database(root: Path) -> None:
    with open(root / "users" / "ana" / "store.db", "ab") as fh:
        fh.write(b"x")


DAMAGES = [garbage_vault, truncated_vault, flipped_episode_byte, damaged_database, extended_database]


def run(code: str, *args: str, debug: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HOPE_DEBUG"} | {"HOPE_PASSPHRASE": PASS}
    if debug:
        env["HOPE_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def assert_one_clean_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert expected in lines[0]
    for secret in SECRETS:
        assert secret not in done.stderr and secret not in done.stdout


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_app_on_a_damaged_store_prints_one_line_and_no_secret(data, damage):
    damage(data)
    assert_one_clean_line(run(APP, str(data), "memories"), "failed an integrity check")


def test_app_on_a_store_held_by_another_process_prints_one_line(data):
    with unlock("ana", PASS, root=data).open_store():
        done = run(APP, str(data), "memories")
    assert_one_clean_line(done, f"The store is open in process {os.getpid()}")


def test_app_on_an_unexpected_error_names_only_its_type(data):
    done = run(APP, str(data), "boom")
    assert_one_clean_line(done, "unexpected RuntimeError")
    assert "HOPE_DEBUG=1" in done.stderr


def test_app_with_hope_debug_keeps_the_traceback_without_locals(data):
    done = run(APP, str(data), "boom", debug=True)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "_opened" in done.stderr
    assert "locals" not in done.stderr and "zebrafinch" not in done.stderr


@pytest.mark.parametrize("damage", [truncated_vault, damaged_database, extended_database],
                         ids=lambda f: f.__name__)
def test_cli_on_a_damaged_store_prints_only_the_error_line(data, damage):
    damage(data)
    assert_one_clean_line(run(CLI, "memories", "list", "--data-dir", str(data)), "failed an integrity check")


def test_cli_on_a_store_held_by_another_process_prints_one_line(data):
    with unlock("ana", PASS, root=data).open_store():
        done = run(CLI, "memories", "list", "--data-dir", str(data))
    assert_one_clean_line(done, f"your store is open in process {os.getpid()}")
