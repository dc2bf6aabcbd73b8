"""Two processes and a killed writer, run for real as subprocesses (`sys.executable -c`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from privacy import StoreLocked, Vault
from tests.privacy.helpers import PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _spawn(code: str, store_dir: Path) -> subprocess.Popen[str]:
    """Run `code` with `vault` unlocked on `store_dir` (passphrase path: no keyring in children)."""
    prelude = (
        "import sys, time\n"
        "from privacy import Vault, StoreLocked\n"
        f"vault = Vault.unlock({str(store_dir)!r}, {PASSPHRASE!r})\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(child: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the child; return every line it had printed."""
    os.kill(child.pid, signal.SIGKILL)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return out.splitlines()


def test_second_process_is_refused_with_the_holders_pid(vault: Vault, store_dir: Path) -> None:
    with vault.open_store():
        child = _spawn(
            """
            try:
                vault.open_store()
            except StoreLocked as exc:
                print("locked", exc.pid, exc)
                sys.exit(3)
            """,
            store_dir,
        )
        out, err = child.communicate(timeout=30)
    assert child.returncode == 3, err
    assert out.startswith(f"locked {os.getpid()} ") and f"process {os.getpid()}" in out


def test_lock_held_by_another_process_is_released_when_it_dies(vault: Vault, store_dir: Path) -> None:
    child = _spawn(
        """
        store = vault.open_store()
        print("open", flush=True)
        time.sleep(60)
        """,
        store_dir,
    )
    assert child.stdout.readline().strip() == "open"
    with pytest.raises(StoreLocked) as caught:
        vault.open_store()
    assert caught.value.pid == child.pid
    _kill(child)
    vault.open_store().close()


def test_writer_killed_between_commits_loses_no_committed_record(vault: Vault, store_dir: Path) -> None:
    child = _spawn(
        """
        with vault.open_store() as store:
            for i in range(100_000):
                rid = store.append("episode", b"%06d" % i + b"." * 4000)
                print(rid, flush=True)  # printed only after the commit returned
        """,
        store_dir,
    )
    committed = [child.stdout.readline().strip() for _ in range(25)]
    committed += _kill(child)
    with vault.open_store() as store:
        stored = [r.id for r in store.list()]
        assert stored[: len(committed)] == committed
        assert len(stored) - len(committed) in (0, 1)  # one commit may have landed before its print
        for rid in stored:
            store.get(rid)
        assert store.audit.verify()


def test_writer_killed_inside_a_transaction_leaves_only_committed_records(vault: Vault, store_dir: Path) -> None:
    child = _spawn(
        """
        with vault.open_store() as store:
            print(" ".join(store.append_many([("episode", b"committed %d" % i) for i in range(5)])), flush=True)

            def batch():
                for i in range(80):  # ~5 MiB: more than SQLite's page cache, so frames spill to the WAL
                    yield ("episode", b"pending %d " % i + b"." * 64 * 1024)
                print("in-transaction", flush=True)
                time.sleep(60)

            store.append_many(batch())
        """,
        store_dir,
    )
    committed = child.stdout.readline().split()
    assert child.stdout.readline().strip() == "in-transaction"
    assert (store_dir / "store.db-wal").stat().st_size > 1024 * 1024  # uncommitted frames really on disk
    _kill(child)
    with vault.open_store() as store:
        assert [r.id for r in store.list()] == committed
        assert [store.get(rid) for rid in committed] == [b"committed %d" % i for i in range(5)]
        assert store.audit.verify()
        assert store.append("episode", b"after the crash")
