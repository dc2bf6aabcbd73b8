"""Encrypted-store benchmark (issue 5): unlock time and record throughput on this machine.

    python -m bench.privacy                  # stores in a temporary folder on the system disk
    python -m bench.privacy --quick          # fewer repeats
    python -m bench.privacy --dir PATH --json out.json

Each row is timed next to a baseline in the same run: unlocking against the bare Argon2id derivation
at the same parameters; append and get against one raw AES-256-GCM encryption or decryption of the
same bytes (fresh key and nonce); shred against a plain SQLite DELETE of one row in the same WAL,
synchronous=FULL mode. The ratio column is store time / baseline time. Every append is its own
transaction with an fsync, which is what a chat turn pays; the batched row shows the cost shared.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from bench._report import environment, format_table, median_seconds, print_header, write_json
from privacy import Store, Vault, _crypto

PASSPHRASE = "benchmark passphrase, not a secret"
KIB = 1024
SIZES = {"1 KiB": KIB, "64 KiB": 64 * KIB}
BATCH = 100


def _row(op: str, size: str, store_s: float, base: str, base_s: float, nbytes: int | None = None) -> dict[str, Any]:
    ops = 1 / store_s
    return {
        "operation": op,
        "payload": size,
        "store_ms": store_s * 1e3,
        "baseline": base,
        "baseline_ms": base_s * 1e3,
        "ratio": store_s / base_s,
        "per_s": ops,
        "MB_s": ops * nbytes / 1e6 if nbytes else None,
    }


def bench_unlock(root: Path, cost: int, budget: float) -> dict[str, Any]:
    path = root / f"unlock-{cost}"
    Vault.create(path, PASSPHRASE, kdf_cost=cost)
    params = _crypto.KdfParams.for_cost(cost, os.urandom)
    store_s, _ = median_seconds(lambda: Vault.unlock(path, PASSPHRASE), budget_s=budget, max_repeats=10)

    def raw() -> bytes:
        kdf = Argon2id(salt=params.salt, length=32, iterations=3, lanes=params.lanes, memory_cost=params.memory_kib)
        return kdf.derive(PASSPHRASE.encode())

    base_s, _ = median_seconds(raw, budget_s=budget, max_repeats=10)
    return _row("unlock", f"{64 * cost} MiB", store_s, "Argon2id derive", base_s)


def _raw_seal(payload: bytes) -> Callable[[], bytes]:
    return lambda: AESGCM(os.urandom(32)).encrypt(os.urandom(12), payload, b"aad")


def bench_records(store: Store, label: str, size: int, budget: float) -> list[dict[str, Any]]:
    """append (one transaction each), append_many (one per batch) and get, for one payload size."""
    payload = os.urandom(size)
    store_s, _ = median_seconds(lambda: store.append("episode", payload), budget_s=budget, max_repeats=200)
    seal_s, _ = median_seconds(_raw_seal(payload), budget_s=budget / 4, max_repeats=2000)
    batch = [("episode", payload)] * BATCH
    batch_s, _ = median_seconds(lambda: store.append_many(batch), budget_s=budget, max_repeats=20)

    ids = itertools.cycle([r.id for r in store.list() if r.size == size][:200])
    get_s, _ = median_seconds(lambda: store.get(next(ids)), budget_s=budget, max_repeats=2000)
    key, nonce = os.urandom(32), os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, payload, b"aad")
    open_s, _ = median_seconds(
        lambda: AESGCM(key).decrypt(nonce, sealed, b"aad"), budget_s=budget / 4, max_repeats=2000
    )
    return [
        _row("append", label, store_s, "AES-GCM encrypt", seal_s, size),
        _row(f"append_many/{BATCH}", label, batch_s / BATCH, "AES-GCM encrypt", seal_s, size),
        _row("get", label, get_s, "AES-GCM decrypt", open_s, size),
    ]


def bench_shred(store: Store, root: Path, budget: float) -> dict[str, Any]:
    victims = iter(store.append_many([("episode", os.urandom(KIB))] * 300))
    store_s, _ = median_seconds(lambda: store.shred([next(victims)]), budget_s=budget, max_repeats=40)

    with closing(sqlite3.connect(root / "plain.db", isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        conn.executemany("INSERT INTO t (body) VALUES (?)", [(os.urandom(KIB),) for _ in range(2000)])
        rowids = itertools.count(1)
        base_s, _ = median_seconds(
            lambda: conn.execute("DELETE FROM t WHERE id = ?", (next(rowids),)), budget_s=budget, max_repeats=200
        )
    db_mb = (root / "store" / "store.db").stat().st_size / 1e6
    return _row("shred (+vacuum)", f"1 KiB of {db_mb:.0f} MB", store_s, "SQLite DELETE", base_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets")
    parser.add_argument("--dir", type=Path, help="where to create the stores (default: a temporary folder)")
    parser.add_argument("--json", metavar="PATH", help="write the full record here")
    args = parser.parse_args(argv)
    budget = 0.5 if args.quick else 2.0

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="hope-bench-") as tmp:
        root = Path(tmp)
        env = environment(["cryptography", "sqlite-utils"], sqlite=sqlite3.sqlite_version, store=str(root))
        print_header("privacy: encrypted store", env)
        rows = [bench_unlock(root, 1, budget), bench_unlock(root, 2, budget)]
        with Vault.create(root / "store", PASSPHRASE).open_store() as store:
            for label, size in SIZES.items():
                rows += bench_records(store, label, size, budget)
            rows.append(bench_shred(store, root, budget))

    columns = ["operation", "payload", "store_ms", "baseline", "baseline_ms", "ratio", "per_s", "MB_s"]
    print(format_table(columns, [[row[c] for c in columns] for row in rows]))
    print()
    unlock, append = rows[0], next(r for r in rows if r["operation"] == "append")
    headline = (
        f"unlock {unlock['store_ms']:.0f} ms at the 64 MiB floor; "
        f"append 1 KiB {append['per_s']:.0f} records/s; shred {rows[-1]['store_ms']:.0f} ms"
    )
    print(headline)
    if args.json:
        write_json(args.json, {**env, "rows": rows, "headline": headline})


if __name__ == "__main__":
    main()
