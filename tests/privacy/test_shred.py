"""Crypto-shredding: a planted string is never on disk in the clear, and after a shred neither its
ciphertext, its wrapped key nor its data key is left in the database file, its WAL or journal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from privacy import Store, Vault
from tests.privacy.helpers import PASSPHRASE, RecordingRng, files_containing, sql

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


def test_a_note_is_written_in_the_shreds_transaction(store: Store, store_dir: Path) -> None:
    keep, gone = store.append("episode", b"stays"), store.append("episode", b"goes")
    seen = []

    def note(shredded, dropped):
        seen.append((shredded, dropped))
        return "receipt", b"what was shredded"

    store.shred([gone], note=note)
    assert seen == [((gone,), ())]
    assert [(r.kind, store.get(r.id)) for r in store.list()] == [("episode", b"stays"),
                                                               ("receipt", b"what was shredded")]

    def failing(shredded, dropped):
        raise RuntimeError("the receipt could not be made")

    with pytest.raises(RuntimeError):
        store.shred([keep], note=failing)
    assert store.get(keep) == b"stays"  # no receipt, no shred: one transaction


KILLED_AFTER_COMMIT = """
import os, signal, sys
from privacy import Store, Vault
Store._vacuum = lambda self: os.kill(os.getpid(), signal.SIGKILL)  # dies right after the shred's commit
store = Vault.unlock(sys.argv[1], sys.argv[2]).open_store()
store.shred([sys.argv[3]], note=lambda shredded, dropped: ("receipt", b"forgot one"))
"""


def test_a_shred_killed_before_its_vacuum_is_finished_when_the_store_next_opens(store_dir: Path) -> None:
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        rid = store.append("episode", CANARY + os.urandom(64 * 1024))
    (wrapped,) = sql(store_dir, "SELECT wrapped FROM keys WHERE id = ?", (rid,))[0]
    (sealed,) = sql(store_dir, "SELECT payload FROM records WHERE id = ?", (rid,))[0]
    done = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMIT, str(store_dir), PASSPHRASE, rid],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr
    assert files_containing(store_dir, sealed[-32:]) != []  # the kill left the deleted pages behind ...
    with Vault.unlock_from_keyring(store_dir).open_store() as store:  # ... which opening vacuums first
        assert files_containing(store_dir, wrapped) == [] and files_containing(store_dir, sealed[-32:]) == []
        assert [store.get(r.id) for r in store.list()] == [b"forgot one"]  # the note survived the kill
        assert sql(store_dir, "SELECT count(*) FROM store_info WHERE key = 'vacuum_due'") == [(0,)]
