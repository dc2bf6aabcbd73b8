"""Selective edits inside one store are refused on open: the tables must hold what the audit chain
says was added and not destroyed (privacy/ledger.py), and the settings are one sealed object whose
id the chain records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privacy import Store, Tampered, Vault, _schema
from privacy._records import Identity
from tests.privacy.helpers import sql


def reopen(store_dir: Path) -> Store:
    return Vault.unlock_from_keyring(store_dir).open_store()


def rows(store_dir: Path, table: str, rid: str) -> tuple[tuple, tuple]:
    """A row and its wrapped key, as an attacker would keep them from an older copy."""
    return (sql(store_dir, f"SELECT * FROM {table} WHERE id = ?", (rid,))[0],
            sql(store_dir, "SELECT * FROM keys WHERE id = ?", (rid,))[0])


def put_back(store_dir: Path, table: str, saved: tuple[tuple, tuple]) -> None:
    row, key = saved
    sql(store_dir, f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    sql(store_dir, "INSERT INTO keys VALUES (?, ?)", key)


def resurrected_record(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        gone = store.append("episode", b"forget me")
        saved = rows(store_dir, "records", gone)
        store.shred([gone])
    put_back(store_dir, "records", saved)


def restored_checkpoint(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        first = store.append("episode", b"one")
        cid = store.put_checkpoint(b"state before the forget", first=first, last=first)
        saved = rows(store_dir, "checkpoints", cid)
        store.shred([first])  # drops the checkpoint derived from it
    put_back(store_dir, "checkpoints", saved)


def deleted_receipt(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        gone = store.append("episode", b"forget me")
        store.shred([gone], note=lambda shredded, dropped: ("receipt", b"forgot one"))
        (receipt,) = [r.id for r in store.list("receipt")]
    sql(store_dir, "DELETE FROM records WHERE id = ?", (receipt,))


def deleted_record(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        rid = store.append("episode", b"a memory")
    sql(store_dir, "DELETE FROM records WHERE id = ?", (rid,))
    sql(store_dir, "DELETE FROM keys WHERE id = ?", (rid,))


def deleted_settings(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        store.set_setting("never_learn", ["email", "phone"])
    sql(store_dir, "DELETE FROM settings")


def older_settings(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        store.set_setting("never_learn", [])
        (saved,) = sql(store_dir, "SELECT id FROM settings")
        old = rows(store_dir, "settings", saved[0])
        store.set_setting("never_learn", ["email", "phone"])
    sql(store_dir, "DELETE FROM settings")
    put_back(store_dir, "settings", old)


def forged_shredded_mark(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        rid = store.append("episode", b"a memory")
    sql(store_dir, "INSERT INTO shredded VALUES (?)", (rid,))


EDITS = [resurrected_record, restored_checkpoint, deleted_receipt, deleted_record, deleted_settings, older_settings,
         forged_shredded_mark]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__)
def test_selective_edit_is_refused_on_open(store_dir: Path, edit: Callable[[Path], None]) -> None:
    edit(store_dir)
    with pytest.raises(Tampered):
        reopen(store_dir)


def test_replaced_settings_leave_no_wrapped_key_behind(store_dir: Path) -> None:
    with reopen(store_dir) as store:
        for n in range(3):
            store.set_setting("idle", n)
    (sid,) = sql(store_dir, "SELECT id FROM settings")[0]
    assert sql(store_dir, "SELECT count(*) FROM keys WHERE id NOT IN (SELECT id FROM records) AND id != ?",
               (sid,)) == [(0,)]


def test_settings_written_one_row_per_name_are_folded_into_one_object(store_dir: Path) -> None:
    """A store from before settings were one object keeps its values, then gets the new checks."""
    with reopen(store_dir) as store, store._transaction():
        for n, (name, value) in enumerate({"mode": "x", "never_learn": ["email"]}.items()):
            sid = f"{n:032x}"
            ident = Identity(_schema.SCHEMA_VERSION, "ana", "setting", sid, (name,))
            payload = f'{value!r}'.replace("'", '"').encode()
            digest = store._store_object("settings", {"name": name}, ident, datetime.now(UTC), {}, payload)
            store._audit.append("setting", [sid], [digest])
    with reopen(store_dir) as store:
        assert store.settings() == {"mode": "x", "never_learn": ["email"]}
        assert store.audit.entries()[-1].action == "settings"
    assert [name for (name,) in sql(store_dir, "SELECT name FROM settings")] == [":all"]
    sql(store_dir, "DELETE FROM settings")
    with pytest.raises(Tampered):
        reopen(store_dir)
