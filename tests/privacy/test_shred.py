"""Crypto-shredding: a planted string is never on disk in the clear, and after a shred neither its
ciphertext, its wrapped key nor its data key is left in the database file, its WAL or journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from privacy import Store, Vault
from tests.privacy.helpers import RecordingRng, files_containing, sql

CANARY = b"CANARY-7f3a9c-the-user-told-a-secret"


@pytest.mark.parametrize("size", [len(CANARY), 64 * 1024], ids=["small", "64KiB-overflow-pages"])
def test_shredded_record_leaves_no_trace_in_any_file(store_dir: Path, size: int) -> None:
    rng = RecordingRng()
    filler = os.urandom(size - len(CANARY))
    with Vault.unlock_from_keyring(store_dir, rng=rng).open_store() as store:
        keep = store.append("episode", b"an unrelated episode that stays")
        draws_before = len(rng.draws)
        rid = store.append("episode", CANARY + filler, meta={"canary": CANARY.decode()})
        data_keys = [k for k in rng.draws[draws_before:] if len(k) == 32]
        (wrapped,) = sql(store_dir, "SELECT wrapped FROM keys WHERE id = ?", (rid,))[0]
        (sealed,) = sql(store_dir, "SELECT payload FROM records WHERE id = ?", (rid,))[0]
        # While the store is open (WAL and -shm present) and before deletion: only ciphertext.
        assert len(data_keys) == 1
        assert files_containing(store_dir, CANARY) == []
        assert files_containing(store_dir, data_keys[0]) == []
        assert files_containing(store_dir, wrapped) != []  # the WAL holds it until a checkpoint
        store.shred([rid])
        leftovers = {
            "plaintext": files_containing(store_dir, CANARY),
            "data key": files_containing(store_dir, data_keys[0]),
            "wrapped key": files_containing(store_dir, wrapped),
            "ciphertext head": files_containing(store_dir, sealed[:32]),
            "ciphertext tail": files_containing(store_dir, sealed[-32:]),
        }
        assert leftovers == {name: [] for name in leftovers}
        assert store.get(keep) == b"an unrelated episode that stays"
    assert sorted(p.name for p in store_dir.iterdir()) == ["store.db", "store.lock", "vault.json"]


def test_shred_receipt_names_what_was_destroyed(store: Store, store_dir: Path) -> None:
    rid = store.append("episode", b"x")
    size_before = (store_dir / "store.db").stat().st_size
    receipt = store.shred([rid])
    assert receipt.ids == (rid,) and receipt.keys_destroyed == 1
    assert receipt.db_bytes == (store_dir / "store.db").stat().st_size <= size_before
    last = store.audit.entries()[-1]
    assert (last.action, last.ids, last.hash) == ("shred", (rid,), receipt.audit_hash)
    assert sql(store_dir, "SELECT count(*) FROM keys WHERE id = ?", (rid,)) == [(0,)]


def test_wal_is_empty_after_a_shred(store: Store, store_dir: Path) -> None:
    rid = store.append("episode", b"x" * 10_000)
    store.shred([rid])
    wal = store_dir / "store.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
