"""Schema versions and migrations, and round trips of the record encoding (property-based)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import Store, Tampered, UnsupportedSchema, Vault, _schema
from privacy._records import check_meta, decode_meta, encode_meta
from tests.privacy.helpers import sql

PROPERTY = settings(max_examples=40, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
metas = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets)


def test_new_store_is_at_the_current_schema_version(store_dir: Path) -> None:
    assert sql(store_dir, "SELECT version FROM schema_version") == [(_schema.SCHEMA_VERSION,)]


def test_migrate_is_a_no_op_at_the_current_version(store_dir: Path) -> None:
    before = (store_dir / "store.db").read_bytes()
    db = _schema.connect(store_dir / "store.db")
    try:
        assert _schema.migrate(db) == 0
        _schema.checkpoint(db)
    finally:
        db.close()
    assert (store_dir / "store.db").read_bytes() == before


def _add_v2(db) -> None:
    db["records"].add_column("extra", str)


def test_pending_migrations_run_in_order_and_keep_records_readable(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        rid = store.append("episode", b"written under v1")
    monkeypatch.setitem(_schema.MIGRATIONS, 2, _add_v2)
    db = _schema.connect(store_dir / "store.db")
    try:
        assert _schema.migrate(db, target=2) == 1
        assert _schema.read_version(db) == 2
        assert "extra" in db["records"].columns_dict
    finally:
        db.close()
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", 2)
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        assert store.get(rid) == b"written under v1"  # the row keeps the version it was sealed under
        assert store.get(store.append("episode", b"v2")) == b"v2"


def test_failed_migration_changes_nothing(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db) -> None:
        db["records"].add_column("half_done", str)
        raise RuntimeError("migration bug")

    monkeypatch.setitem(_schema.MIGRATIONS, 2, broken)
    db = _schema.connect(store_dir / "store.db")
    try:
        with pytest.raises(RuntimeError):
            _schema.migrate(db, target=2)
        assert _schema.read_version(db) == 1 and "half_done" not in db["records"].columns_dict
    finally:
        db.close()


def test_store_from_a_newer_program_is_refused_unchanged(store_dir: Path) -> None:
    sql(store_dir, "UPDATE schema_version SET version = 99")
    before = (store_dir / "store.db").read_bytes()
    with pytest.raises(UnsupportedSchema) as caught:
        Vault.unlock_from_keyring(store_dir).open_store()
    assert (caught.value.found, caught.value.supported) == (99, _schema.SCHEMA_VERSION)
    assert (store_dir / "store.db").read_bytes() == before


def test_database_without_a_schema_version_is_tampered(store_dir: Path) -> None:
    sql(store_dir, "DROP TABLE schema_version")
    with pytest.raises(Tampered):
        Vault.unlock_from_keyring(store_dir).open_store()


def test_database_is_in_wal_mode(store: Store, store_dir: Path) -> None:
    assert sql(store_dir, "PRAGMA journal_mode") == [("wal",)]


@PROPERTY
@given(times, st.integers(0, 2**40), metas)
def test_meta_envelope_round_trips(created: datetime, size: int, meta: dict) -> None:
    assert decode_meta(encode_meta(created, size, check_meta(meta))) == (created, size, meta)


@PROPERTY
@given(st.binary(max_size=2048), metas, st.sampled_from(["episode", "note", "x.y-z_1"]))
def test_store_round_trips_any_payload_and_meta(shared_store: Store, payload: bytes, meta: dict, kind: str) -> None:
    rid = shared_store.append(kind, payload, meta=meta)
    info = shared_store.info(rid)
    assert (shared_store.get(rid), info.meta, info.kind, info.size) == (payload, meta, kind, len(payload))


@PROPERTY
@given(st.lists(st.tuples(st.binary(max_size=256), metas), min_size=1, max_size=5))
def test_append_many_round_trips_a_batch(shared_store: Store, batch: list[tuple[bytes, dict]]) -> None:
    ids = shared_store.append_many([("episode", payload, meta) for payload, meta in batch])
    assert [(shared_store.get(rid), shared_store.info(rid).meta) for rid in ids] == batch


def test_envelope_time_keeps_its_offset() -> None:
    created = datetime(2026, 11, 26, 9, 30, tzinfo=UTC) + timedelta(microseconds=7)
    assert decode_meta(encode_meta(created, 1, {}))[0] == created
