"""Audit chain: untouched chains verify; any edit, removal, reordering, insertion or cut is found at the
first bad index; entries carry ids and ciphertext hashes, never content."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import Store, Tampered, Vault, _schema
from privacy.audit import AuditEntry, AuditLog, link, verify_chain
from tests.privacy.helpers import files_containing, sql

GENESIS = "00" * 32
PROPERTY = settings(max_examples=60, deadline=None)

_ids = st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), max_size=3)
_events = st.tuples(st.sampled_from(["append", "shred", "checkpoint", "export"]), _ids, st.binary(max_size=24))


def _chain(events: list[tuple[str, list[str], bytes]]) -> list[AuditEntry]:
    chain: list[AuditEntry] = []
    for action, ids, stamp in events:
        prev = chain[-1].hash if chain else GENESIS
        chain.append(link(len(chain), prev, action, ids, [f"{len(ids):064x}"], stamp))
    return chain


def _head(chain: list[AuditEntry]) -> tuple[int, str]:
    return len(chain), chain[-1].hash


# One edit per field of an entry, each guaranteed to change the value.
_EDITS = {
    "action": lambda old: old + "x",
    "ids": lambda old: (*old, "f" * 32),
    "hashes": lambda old: (*old, "3" * 64),
    "stamp": lambda old: old + b"\x00",
    "prev": lambda old: "1" * 64 if old != "1" * 64 else "2" * 64,
    "hash": lambda old: "2" * 64 if old != "2" * 64 else "1" * 64,
    "index": lambda old: old + 1,
}

chains = st.lists(_events, min_size=1, max_size=8).map(_chain)


@PROPERTY
@given(chains)
def test_untouched_chain_verifies(chain: list[AuditEntry]) -> None:
    verdict = verify_chain(chain, first_prev=GENESIS, head=_head(chain))
    assert verdict and verdict.count == len(chain)


@PROPERTY
@given(chains, st.data())
def test_edited_entry_is_found_at_its_index(chain: list[AuditEntry], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(sorted(_EDITS)))
    new = _EDITS[field](getattr(chain[i], field))
    edited = [*chain[:i], dataclasses.replace(chain[i], **{field: new}), *chain[i + 1 :]]
    verdict = verify_chain(edited, first_prev=GENESIS, head=_head(chain))
    assert not verdict and verdict.first_bad == i


@PROPERTY
@given(chains, st.data())
def test_removed_entry_is_found(chain: list[AuditEntry], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 1))
    verdict = verify_chain([*chain[:i], *chain[i + 1 :]], first_prev=GENESIS, head=_head(chain))
    assert not verdict and verdict.first_bad == i


@PROPERTY
@given(chains.filter(lambda c: len(c) >= 2), st.data())
def test_reordered_entries_are_found_at_the_first_moved_one(chain: list[AuditEntry], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    swapped = list(chain)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    verdict = verify_chain(swapped, first_prev=GENESIS, head=_head(chain))
    assert not verdict and verdict.first_bad == i


@PROPERTY
@given(chains, st.data(), _events)
def test_inserted_entry_is_found(chain: list[AuditEntry], data: st.DataObject, event) -> None:
    i = data.draw(st.integers(0, len(chain)))
    action, ids, stamp = event
    # The forger links the new entry properly to its predecessor; only what follows can expose it.
    forged = link(i, chain[i - 1].hash if i else GENESIS, action, ids, [], stamp)
    verdict = verify_chain([*chain[:i], forged, *chain[i:]], first_prev=GENESIS, head=_head(chain))
    assert not verdict and verdict.first_bad == min(i + 1, len(chain))


@PROPERTY
@given(chains, st.data())
def test_cut_off_tail_is_found_through_the_sealed_head(chain: list[AuditEntry], data: st.DataObject) -> None:
    keep = data.draw(st.integers(0, len(chain) - 1))
    verdict = verify_chain(chain[:keep], first_prev=GENESIS, head=_head(chain))
    assert not verdict and (verdict.first_bad, verdict.reason) == (keep, "missing")


def test_store_audits_every_action_in_order(store: Store, store_dir: Path) -> None:
    a = store.append("episode", b"a")
    cid = store.put_checkpoint(b"s", first=a, last=a)
    store.set_setting("mode", "x")
    store.shred([a])
    store.export_json(store_dir.parent / "export.json")
    entries = store.audit.entries()
    assert [e.action for e in entries] == ["create", "append", "checkpoint", "settings", "shred", "export"]
    assert entries[4].ids == (a, cid) and len(entries[4].hashes) == 2
    assert store.audit.verify()


def test_audit_entries_hold_no_content(store: Store, store_dir: Path) -> None:
    store.append("episode", b"wombat-secret-episode", meta={"note": "wombat-secret-meta"})
    store.close()
    assert files_containing(store_dir, b"wombat-secret") == []
    for action, ids, hashes in sql(store_dir, "SELECT action, ids, hashes FROM audit"):
        assert "wombat" not in action + ids + hashes


def _verify(directory: Path):
    """The store refuses to open on an edited chain; the chain itself says where it goes wrong."""
    vault = Vault.unlock_from_keyring(directory)
    with pytest.raises(Tampered):
        vault.open_store()
    db = _schema.connect(directory / "store.db")
    try:
        return AuditLog(db, vault._keys, vault._header.store_id, now=lambda: datetime.now(UTC), rng=os.urandom).verify()
    finally:
        db.close()


def test_edited_audit_row_on_disk_is_reported(store: Store, store_dir: Path) -> None:
    store.append_many([("episode", b"a")])
    store.append_many([("episode", b"b")])
    store.close()
    sql(store_dir, "UPDATE audit SET action = 'shred' WHERE idx = 1")
    verdict = _verify(store_dir)
    assert not verdict and (verdict.first_bad, verdict.reason) == (1, "entry")


def test_deleted_last_audit_row_on_disk_is_reported(store: Store, store_dir: Path) -> None:
    store.append("episode", b"a")
    store.close()
    sql(store_dir, "DELETE FROM audit WHERE idx = 1")
    verdict = _verify(store_dir)
    assert not verdict and (verdict.first_bad, verdict.reason) == (1, "missing")


def test_forged_head_is_reported(store: Store, store_dir: Path) -> None:
    store.append("episode", b"a")
    store.close()
    sql(store_dir, "DELETE FROM audit WHERE idx = 1")
    sql(store_dir, "UPDATE audit_head SET count = 1, hash = (SELECT hash FROM audit WHERE idx = 0)")
    verdict = _verify(store_dir)
    assert not verdict and (verdict.first_bad, verdict.reason) == (0, "head")


def test_cut_off_tail_stays_visible_after_later_writes(store: Store, store_dir: Path) -> None:
    store.append("episode", b"a")
    store.close()
    sql(store_dir, "DELETE FROM audit WHERE idx = 1")
    assert _verify(store_dir).first_bad == 1  # and no later write can paper over it: the store won't open


def test_audit_cell_of_the_wrong_type_is_reported_not_raised(store: Store, store_dir: Path) -> None:
    store.append("episode", b"a")
    store.close()
    sql(store_dir, "UPDATE audit SET ids = 'not json', stamp = 'text, not bytes' WHERE idx = 1")
    verdict = _verify(store_dir)
    assert not verdict and (verdict.first_bad, verdict.reason) == (1, "entry")


def test_store_with_a_forged_head_refuses_new_writes(store: Store, store_dir: Path) -> None:
    store.close()
    sql(store_dir, "UPDATE audit_head SET tag = 42")
    with pytest.raises(Tampered):  # refused on open, so nothing can be written after it
        Vault.unlock_from_keyring(store_dir).open_store()
