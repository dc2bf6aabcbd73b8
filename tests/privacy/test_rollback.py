"""Rollback: putting back an older copy of the whole store folder (which would bring forgotten records
back) is refused on open, unless the older store is accepted on purpose, which the audit records
and which shreds again what had been shredded since."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from privacy import RecordShredded, RolledBack, Tampered, Vault
from privacy.rollback import config_root
from tests.privacy.helpers import snapshot


def reopen(store_dir: Path, **kwargs):
    return Vault.unlock_from_keyring(store_dir).open_store(**kwargs)


@pytest.fixture
def forgotten(store_dir: Path, tmp_path: Path) -> tuple[str, Path]:
    """A store that forgot a record, and a backup copy taken before the forget."""
    with reopen(store_dir) as store:
        store.append("episode", b"stays")
        gone = store.append("episode", b"my pin is 4821")
    backup = tmp_path / "backup"
    shutil.copytree(store_dir, backup)
    with reopen(store_dir) as store:
        store.shred([gone])
    return gone, backup


def put_back(backup: Path, store_dir: Path) -> None:
    shutil.rmtree(store_dir)
    shutil.copytree(backup, store_dir)


def test_an_older_copy_of_the_store_is_refused_and_left_as_it_is(forgotten, store_dir):
    gone, backup = forgotten
    put_back(backup, store_dir)
    before = snapshot(store_dir)
    with pytest.raises(RolledBack, match="--accept-older-store"):
        reopen(store_dir)
    assert {k: v[0] for k, v in snapshot(store_dir).items()} == {k: v[0] for k, v in before.items()}


def test_accepting_the_older_store_is_audited_and_shreds_again(forgotten, store_dir):
    gone, backup = forgotten
    put_back(backup, store_dir)
    with reopen(store_dir, accept_older=True) as store:
        with pytest.raises(RecordShredded):
            store.get(gone)
        actions = [e.action for e in store.audit.entries()]
        assert actions[-2:] == ["accept-older-store", "shred"]
    with reopen(store_dir) as store:  # from now on this is the store's newest state
        assert [store.get(r.id) for r in store.list()] == [b"stays"]


def test_a_copy_that_went_its_own_way_is_refused(store_dir, tmp_path, monkeypatch):
    """Longer than the newest head but not its continuation: an old copy written to elsewhere."""
    with reopen(store_dir) as store:
        store.append("episode", b"one")
    fork = tmp_path / "fork"
    shutil.copytree(store_dir, fork)
    with reopen(store_dir) as store:
        store.append("episode", b"two")
    here = config_root()
    monkeypatch.setenv("HOPE_CONFIG_DIR", str(tmp_path / "another-machine"))
    with reopen(fork) as store:
        for n in range(5):
            store.append("episode", f"elsewhere {n}".encode())
    monkeypatch.setenv("HOPE_CONFIG_DIR", str(here))
    put_back(fork, store_dir)
    with pytest.raises(RolledBack):
        reopen(store_dir)


def test_an_edited_note_is_refused(forgotten, store_dir):
    (note,) = (config_root() / "heads").iterdir()
    doc = json.loads(note.read_text())
    doc["count"] = 1
    note.write_text(json.dumps(doc))
    with pytest.raises(Tampered):
        reopen(store_dir)


def test_the_note_is_private_and_holds_no_content(forgotten, store_dir):
    gone, _ = forgotten
    (note,) = (config_root() / "heads").iterdir()
    assert oct(note.stat().st_mode & 0o777) == "0o600"
    doc = json.loads(note.read_text())
    assert sorted(doc) == ["count", "hash", "shredded", "tag"] and doc["shredded"] == [gone]
    assert b"4821" not in note.read_bytes()
