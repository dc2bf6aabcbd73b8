"""Store: records, log order, atomic batches, checkpoints, settings, lifecycle, injected clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privacy import RecordNotFound, RecordShredded, Store, StoreLocked, Vault
from tests.privacy.helpers import files_containing, sql


def test_append_then_get_returns_the_payload(store: Store) -> None:
    rid = store.append("episode", b"hello there")
    assert store.get(rid) == b"hello there"


def test_list_shows_clear_fields_and_opened_meta_in_log_order(store: Store) -> None:
    first = store.append("episode", b"one", meta={"topic": "cats", "tags": ["a"]})
    second = store.append("note", b"three", meta=None)
    listed = store.list()
    assert [(r.id, r.kind, r.seq, r.size) for r in listed] == [(first, "episode", 1, 3), (second, "note", 2, 5)]
    assert [r.meta for r in listed] == [{"topic": "cats", "tags": ["a"]}, {}]
    assert store.info(first) == listed[0]


def test_list_filters_by_kind(store: Store) -> None:
    episode = store.append("episode", b"a")
    store.append("note", b"b")
    assert [r.id for r in store.list("episode")] == [episode]


def test_append_many_stores_every_item_in_order(store: Store) -> None:
    ids = store.append_many([("episode", b"a"), ("episode", b"b", {"k": 1}), ("note", b"c", None)])
    assert [store.get(rid) for rid in ids] == [b"a", b"b", b"c"]
    assert [r.id for r in store.list()] == list(ids)


def test_append_many_is_all_or_nothing(store: Store) -> None:
    entries_before = len(store.audit.entries())

    def batch():
        yield ("episode", b"first")
        yield ("episode", b"second")
        raise RuntimeError("caller failed half-way")

    with pytest.raises(RuntimeError):
        store.append_many(batch())
    assert store.list() == ()
    assert len(store.audit.entries()) == entries_before


def test_append_many_with_nothing_writes_nothing(store: Store) -> None:
    before = len(store.audit.entries())
    assert store.append_many([]) == ()
    assert len(store.audit.entries()) == before


@pytest.mark.parametrize(
    "kind,payload,meta,error",
    [
        ("Episode", b"x", None, ValueError),  # kinds are lower-case program identifiers
        ("", b"x", None, ValueError),
        (3, b"x", None, TypeError),
        ("episode", "text, not bytes", None, TypeError),
        ("episode", b"x", ["not", "a", "dict"], TypeError),
        ("episode", b"x", {"t": (1, 2)}, ValueError),  # would come back as a list
        ("episode", b"x", {1: "int key"}, ValueError),  # would come back as a str key
        ("episode", b"x", {"f": float("nan")}, ValueError),
    ],
)
def test_bad_append_arguments_are_caller_errors(store: Store, kind, payload, meta, error) -> None:
    with pytest.raises(error):
        store.append(kind, payload, meta=meta)
    assert store.list() == ()


def test_append_many_refuses_malformed_items(store: Store) -> None:
    with pytest.raises(TypeError, match="tuple"):
        store.append_many([["episode", b"x"]])  # type: ignore[list-item]


def test_unknown_id_raises_record_not_found(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        store.get("0" * 32)


def test_shredded_id_raises_record_shredded(store: Store) -> None:
    rid = store.append("episode", b"gone soon")
    store.shred([rid])
    with pytest.raises(RecordShredded):
        store.get(rid)
    assert store.list() == ()


def test_shred_twice_reports_instead_of_failing(store: Store) -> None:
    rid = store.append("episode", b"x")
    store.shred([rid])
    again = store.shred([rid])
    assert (again.ids, again.already_shredded, again.keys_destroyed, again.audit_hash) == ((), (rid,), 0, None)


def test_shred_with_an_unknown_id_changes_nothing(store: Store) -> None:
    rid = store.append("episode", b"stays")
    with pytest.raises(RecordNotFound):
        store.shred([rid, "f" * 32])
    assert store.get(rid) == b"stays"


def test_checkpoint_round_trips_with_its_range(store: Store) -> None:
    a, b = store.append_many([("episode", b"a"), ("episode", b"b")])
    cid = store.put_checkpoint(b"\x00model-state\xff", first=a, last=b, meta={"step": 7})
    assert store.get_checkpoint(cid) == b"\x00model-state\xff"
    (info,) = store.list_checkpoints()
    assert (info.id, info.first, info.last, info.size, info.meta) == (cid, a, b, 13, {"step": 7})


def test_checkpoint_range_must_run_forward(store: Store) -> None:
    a, b = store.append_many([("episode", b"a"), ("episode", b"b")])
    with pytest.raises(ValueError, match="reversed"):
        store.put_checkpoint(b"s", first=b, last=a)


def test_shredding_a_record_drops_only_checkpoints_derived_from_it(store: Store) -> None:
    a, b, c = store.append_many([("episode", b"a"), ("episode", b"b"), ("episode", b"c")])
    early = store.put_checkpoint(b"early", first=a, last=a)
    late = store.put_checkpoint(b"late", first=a, last=c)
    receipt = store.shred([b])
    assert receipt.checkpoints == (late,) and receipt.keys_destroyed == 2
    assert [c.id for c in store.list_checkpoints()] == [early]
    with pytest.raises(RecordNotFound):
        store.get_checkpoint(late)


def test_drop_checkpoint_shreds_it(store: Store) -> None:
    a = store.append("episode", b"a")
    cid = store.put_checkpoint(b"state", first=a, last=a)
    receipt = store.drop_checkpoint(cid)
    assert receipt.checkpoints == (cid,) and store.list_checkpoints() == ()
    with pytest.raises(RecordNotFound):
        store.drop_checkpoint(cid)


def test_settings_are_stored_encrypted_and_replaced(store: Store, store_dir: Path) -> None:
    assert store.get_setting("never-learn", default=[]) == []
    store.set_setting("never-learn", ["email", "zebra-setting-value"])
    store.set_setting("never-learn", ["phone"])
    assert store.get_setting("never-learn") == ["phone"]
    assert store.settings() == {"never-learn": ["phone"]}
    assert sql(store_dir, "SELECT count(*) FROM settings") == [(1,)]
    assert files_containing(store_dir, b"zebra-setting-value") == []


def test_closed_store_refuses_use(store: Store) -> None:
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        store.append("episode", b"x")


def test_second_open_in_the_same_process_is_locked(vault: Vault, store: Store) -> None:
    with pytest.raises(StoreLocked) as caught:
        vault.open_store()
    assert caught.value.pid == os.getpid() and str(os.getpid()) in str(caught.value)


def test_lock_is_released_on_close(vault: Vault) -> None:
    vault.open_store().close()
    vault.open_store().close()


def test_injected_clock_and_randomness_are_used(store_dir: Path) -> None:
    moment = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    counter = iter(range(1, 10_000))
    rng = lambda n: next(counter).to_bytes(n, "big")  # noqa: E731 - deterministic ids for the test
    with Vault.unlock_from_keyring(store_dir, now=lambda: moment, rng=rng).open_store() as store:
        rid = store.append("episode", b"x")
        assert rid == (1).to_bytes(16, "big").hex()
        assert store.info(rid).created == moment
        assert store.audit.entries()[-1].time == moment


def test_naive_clock_is_refused(store_dir: Path) -> None:
    with Vault.unlock_from_keyring(store_dir, now=datetime.now).open_store() as store:
        with pytest.raises(ValueError, match="timezone"):
            store.append("episode", b"x")


def test_meta_and_times_never_reach_disk_in_the_clear(store: Store, store_dir: Path) -> None:
    moment = store.info(store.append("episode", b"p", meta={"where": "quokka-island"})).created
    store.close()
    assert files_containing(store_dir, b"quokka-island") == []
    assert files_containing(store_dir, moment.isoformat()[:19].encode()) == []
