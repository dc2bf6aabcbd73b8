"""Test helpers for privacy/: raw file scans, file snapshots, recording randomness, raw SQL."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

PASSPHRASE = "correct horse battery staple"
OTHER_PASSPHRASE = "a different, longer passphrase"


def files_containing(directory: Path, needle: bytes) -> list[str]:
    """Names of every file under `directory` whose raw bytes contain `needle`."""
    return sorted(
        str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()
    )


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file, to prove an operation changed nothing."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


class RecordingRng:
    """os.urandom that remembers what it handed out, so tests can look for keys on disk."""

    def __init__(self) -> None:
        self.draws: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = os.urandom(n)
        self.draws.append(out)
        return out

    def keys(self) -> list[bytes]:
        return [d for d in self.draws if len(d) == 32]


def sql(directory: Path, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on the store's database behind the store's back (an attacker's edit)."""
    with closing(sqlite3.connect(directory / "store.db")) as conn, conn:
        return conn.execute(statement, params).fetchall()
