"""Tampering: every altered byte, swapped row, moved record, resized file or foreign database is refused
with `Tampered`, and a refused read changes nothing on disk."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from privacy import Store, Tampered, Vault
from tests.privacy.helpers import sql


@pytest.fixture
def filled(store_dir: Path) -> Path:
    """A closed store holding two episodes of equal size and a checkpoint over both."""
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        a, b = store.append_many([("episode", b"first payload"), ("episode", b"other payload")])
        store.put_checkpoint(b"state", first=a, last=b)
    return store_dir


def _ids(directory: Path) -> list[str]:
    return [rid for (rid,) in sql(directory, "SELECT id FROM records ORDER BY seq")]


def _read_everything(directory: Path) -> None:
    with Vault.unlock_from_keyring(directory).open_store() as store:
        for info in store.list():
            store.get(info.id)
        for checkpoint in store.list_checkpoints():
            store.get_checkpoint(checkpoint.id)


def _flip_payload_byte(d: Path) -> None:
    (payload,) = sql(d, "SELECT payload FROM records WHERE seq = 1")[0]
    sql(d, "UPDATE records SET payload = ? WHERE seq = 1", (bytes([payload[0] ^ 1]) + payload[1:],))


def _swap_payloads(d: Path) -> None:
    (p1,), (p2,) = sql(d, "SELECT payload FROM records ORDER BY seq")
    sql(d, "UPDATE records SET payload = ? WHERE seq = 1", (p2,))
    sql(d, "UPDATE records SET payload = ? WHERE seq = 2", (p1,))


def _swap_whole_rows(d: Path) -> None:
    """Exchange everything but the ids: each id now points at the other record's blobs and key."""
    a, b = _ids(d)
    sql(d, "UPDATE records SET id = 'tmp' WHERE id = ?", (a,))
    sql(d, "UPDATE records SET id = ? WHERE id = ?", (a, b))
    sql(d, "UPDATE records SET id = ? WHERE id = 'tmp'", (b,))
    sql(d, "UPDATE keys SET id = 'tmp' WHERE id = ?", (a,))
    sql(d, "UPDATE keys SET id = ? WHERE id = ?", (a, b))
    sql(d, "UPDATE keys SET id = ? WHERE id = 'tmp'", (b,))


def _reorder_log(d: Path) -> None:
    sql(d, "UPDATE records SET seq = 99 WHERE seq = 1")
    sql(d, "UPDATE records SET seq = 1 WHERE seq = 2")
    sql(d, "UPDATE records SET seq = 2 WHERE seq = 99")


def _truncate(d: Path) -> None:
    db = d / "store.db"
    db.write_bytes(db.read_bytes()[:-4096])


def _truncate_mid_page(d: Path) -> None:
    db = d / "store.db"
    db.write_bytes(db.read_bytes()[:-1000])


def _extend(d: Path) -> None:
    with open(d / "store.db", "ab") as fh:
        fh.write(b"\x00" * 4096)


def _extend_one_byte(d: Path) -> None:
    with open(d / "store.db", "ab") as fh:
        fh.write(b"x")


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "flip-byte": _flip_payload_byte,
    "swap-rows": _swap_payloads,
    "swap-ids": _swap_whole_rows,
    "reorder": _reorder_log,
    "wrong-aad-kind": lambda d: sql(d, "UPDATE records SET kind = 'note' WHERE seq = 1"),
    "wrong-aad-schema": lambda d: sql(d, "UPDATE records SET schema = 2 WHERE seq = 1"),
    "wrong-size": lambda d: sql(d, "UPDATE records SET size = size - 1 WHERE seq = 1"),
    "missing-key": lambda d: sql(d, "DELETE FROM keys WHERE id = (SELECT id FROM records WHERE seq = 1)"),
    "checkpoint-range": lambda d: sql(d, "UPDATE checkpoints SET first_seq = 2"),
    "truncate": _truncate,
    "truncate-mid-page": _truncate_mid_page,
    "extend": _extend,
    "extend-one-byte": _extend_one_byte,
    "empty-file": lambda d: (d / "store.db").write_bytes(b""),
    "not-a-database": lambda d: (d / "store.db").write_bytes(b"hello" * 2000),
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_mutation_is_refused(filled: Path, mutation: Callable[[Path], None]) -> None:
    mutation(filled)
    altered = (filled / "store.db").read_bytes()
    with pytest.raises(Tampered):
        _read_everything(filled)
    assert (filled / "store.db").read_bytes() == altered


def test_missing_database_is_refused(filled: Path) -> None:
    (filled / "store.db").unlink()
    with pytest.raises(Tampered):
        _read_everything(filled)
    assert not (filled / "store.db").exists()


@pytest.fixture
def attacker(filled: Path) -> Iterator[sqlite3.Connection]:
    """A second connection editing the database under an open store (fast: no fsync)."""
    with closing(sqlite3.connect(filled / "store.db", isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        yield conn


@pytest.fixture
def open_store(filled: Path) -> Iterator[Store]:
    with Vault.unlock_from_keyring(filled).open_store() as store:
        yield store


@pytest.mark.parametrize(("table", "column"), [("records", "payload"), ("records", "meta"), ("keys", "wrapped")])
def test_every_flipped_byte_of_a_record_is_refused(
    open_store: Store, attacker: sqlite3.Connection, table: str, column: str
) -> None:
    rid = open_store.list()[0].id
    (blob,) = attacker.execute(f"SELECT {column} FROM {table} WHERE id = ?", (rid,)).fetchone()
    for i in range(len(blob)):
        flipped = blob[:i] + bytes([blob[i] ^ 0x80]) + blob[i + 1 :]
        attacker.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (flipped, rid))
        with pytest.raises(Tampered):
            open_store.get(rid)
    attacker.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (blob, rid))
    assert open_store.get(rid) == b"first payload"


def test_record_moved_into_another_users_store_is_refused(filled: Path, other_store_dir: Path) -> None:
    with Vault.unlock_from_keyring(other_store_dir).open_store() as bob:
        target = bob.append("episode", b"bob's own text")
    rid = _ids(filled)[0]
    (stolen,) = sql(filled, "SELECT meta, payload FROM records WHERE id = ?", (rid,))
    (wrapped,) = sql(filled, "SELECT wrapped FROM keys WHERE id = ?", (rid,))
    sql(other_store_dir, "UPDATE records SET meta = ?, payload = ? WHERE id = ?", (*stolen, target))
    with Vault.unlock_from_keyring(other_store_dir).open_store() as bob:
        with pytest.raises(Tampered):
            bob.get(target)
        sql(other_store_dir, "UPDATE keys SET wrapped = ? WHERE id = ?", (*wrapped, target))
        with pytest.raises(Tampered):
            bob.get(target)


def test_whole_row_copied_into_another_users_store_is_refused(filled: Path, other_store_dir: Path) -> None:
    rid = _ids(filled)[0]
    row = sql(filled, "SELECT seq, id, kind, size, schema, meta, payload FROM records WHERE id = ?", (rid,))[0]
    key = sql(filled, "SELECT id, wrapped FROM keys WHERE id = ?", (rid,))[0]
    sql(other_store_dir, "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", row)
    sql(other_store_dir, "INSERT INTO keys VALUES (?, ?)", key)
    with pytest.raises(Tampered):  # a row bob's audit chain never appended: refused on open
        Vault.unlock_from_keyring(other_store_dir).open_store()


def test_database_from_another_store_is_refused(filled: Path, other_store_dir: Path) -> None:
    shutil.copyfile(other_store_dir / "store.db", filled / "store.db")
    with pytest.raises(Tampered):
        _read_everything(filled)


def test_vault_header_from_another_store_does_not_open_this_database(filled: Path, other_store_dir: Path) -> None:
    shutil.copyfile(other_store_dir / "vault.json", filled / "vault.json")
    with pytest.raises(Tampered):
        Vault.unlock_from_keyring(filled).open_store()


def test_tampered_error_does_not_say_which_check_failed(filled: Path) -> None:
    messages = set()
    for mutation in (_flip_payload_byte, _reorder_log):
        mutation(filled)
        with pytest.raises(Tampered) as caught:
            _read_everything(filled)
        messages.add(str(caught.value))
    assert len(messages) == 1


def test_unaltered_store_reads_cleanly(filled: Path) -> None:
    _read_everything(filled)  # the control for test_mutation_is_refused
