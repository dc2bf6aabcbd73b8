"""The encrypted store: records (the episode log), model checkpoints and settings of one user.

Get one from `Vault.open_store()`. Every write is one SQLite transaction that also appends its audit
entry; every read authenticates what it returns. Payloads are bytes: privacy/ never interprets them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from privacy import _crypto, _schema, rollback
from privacy import export as _export
from privacy._crypto import Rng
from privacy._files import DB_FILE, VAULT_FILE, StoreLock, remove_stale_temps, write_private
from privacy._records import (
    ID_BYTES,
    CheckpointInfo,
    Identity,
    KeySet,
    Meta,
    Opened,
    RecordInfo,
    ShredReceipt,
    StoredCheckpoint,
    check_id,
    check_meta,
    check_name,
    check_payload,
    open_meta,
    open_payload,
    seal_object,
)
from privacy.audit import AuditLog
from privacy.errors import RecordNotFound, RecordShredded, RolledBack, StoreFull, Tampered
from privacy.ledger import SETTINGS_ENTRY, SETTINGS_NAME, Ledger

log = logging.getLogger(__name__)

NewRecord = tuple[str, bytes] | tuple[str, bytes, Meta | None]
Note = Callable[[tuple[str, ...], tuple[str, ...]], tuple[str, bytes]]

__all__ = ["CheckpointInfo", "NewRecord", "RecordInfo", "ShredReceipt", "Store"]


class Store:
    """One user's encrypted store, open for writing by this process only (see `StoreLock`)."""

    def __init__(
        self,
        directory: Path,
        *,
        keys: KeySet,
        user: str,
        store_id: str,
        lock: StoreLock,
        now: Callable[[], datetime],
        rng: Rng,
        accept_older: bool = False,
    ) -> None:
        assert lock.is_held, "a store is only opened under its lock"
        self._path = directory / DB_FILE
        self._keys = keys
        self._user = user
        self._now = now
        self._rng = rng
        self._lock = lock
        self._serial = threading.RLock()  # one thread at a time on the shared connection
        remove_stale_temps(directory / VAULT_FILE)  # a passphrase change killed mid-write
        if not self._path.is_file() or self._path.stat().st_size == 0:
            raise Tampered()
        self._db = _schema.connect(self._path)
        try:
            _schema.check_integrity(self._db, self._path)
            with self._guard():
                if _schema.read_version(self._db) == 0:
                    raise Tampered()
                _schema.migrate(self._db)
                info = dict(self._db.execute("SELECT key, value FROM store_info").fetchall())
            if info.get("store_id") != store_id or info.get("user") != user:
                raise Tampered()
            if "vacuum_due" in info:  # a process died between a shred's commit and its vacuum: finish first
                log.info("finishing an interrupted shred")
                self._vacuum()
            self._audit = AuditLog(self._db, keys, store_id, now=now, rng=rng)
            self._check_ledger()
            self._store_id = store_id
            self._open = True
            self._check_rollback(accept_older)
            self._fold_legacy_settings()
        except BaseException:
            self._open = False
            self._db.close()
            raise
        log.info("store opened: schema %d", _schema.SCHEMA_VERSION)

    def _head(self) -> rollback.Head:
        entries = self._audit.verified()
        shredded = {i for (i,) in self._db.execute("SELECT id FROM shredded").fetchall()}
        return rollback.Head(len(entries), entries[-1].hash if entries else "", frozenset(shredded))

    def _check_rollback(self, accept_older: bool) -> None:
        """Refuse a chain behind (or apart from) the newest head this machine remembers of the store
        (privacy/rollback.py); with ``accept_older`` (a backup restored on purpose) record that in
        the audit and shred again whatever was shredded since. Then remember this head."""
        with self._guard():
            seen = rollback.remembered(self._store_id, self._keys.audit_mac)
            entries = self._audit.verified()
            records = {i for (i,) in self._db.execute("SELECT id FROM records").fetchall()}
        if seen is not None:
            behind = seen.count > len(entries) or (seen.count > 0 and entries[seen.count - 1].hash != seen.hash)
            back = sorted(seen.shredded & records)
            if behind or back:
                if not accept_older:
                    raise RolledBack()
                log.warning("an older store was accepted; shredding %d records again", len(back))
                with self._transaction():
                    self._audit.append("accept-older-store", [], [seen.hash])
                if back:
                    self.shred(back)
        self._remember_head()

    def _remember_head(self) -> None:
        """Note this store's head outside its folder: after open, after each destroy, at close."""
        with self._guard():
            head = self._head()
        try:
            seen = rollback.remembered(self._store_id, self._keys.audit_mac)
        except Tampered:  # checked at open; overwritten with what is true now
            seen = None
        shredded = head.shredded | (seen.shredded if seen is not None else frozenset())
        rollback.remember(self._store_id, self._keys.audit_mac, dataclasses.replace(head, shredded=shredded))

    def _check_ledger(self) -> None:
        """The tables hold what the verified audit chain says, no more, no less (privacy/ledger.py)."""
        with self._guard():
            ledger = Ledger.replay(self._audit.verified())
            ids = {table: {i for (i,) in self._db.execute(f"SELECT id FROM {table}").fetchall()}
                   for table in ("records", "shredded", "checkpoints")}
            settings = dict(self._db.execute("SELECT name, id FROM settings").fetchall())
        ledger.check(records=ids["records"], shredded=ids["shredded"], checkpoints=ids["checkpoints"],
                     settings=settings)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Fold the WAL into the database file and release the lock; safe to call twice."""
        if not self._open:
            return
        self._open = False
        try:
            self._remember_head()
            _schema.checkpoint(self._db)
        finally:
            self._db.close()
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def audit(self) -> AuditLog:
        self._check_open()
        return self._audit

    def _check_open(self) -> None:
        if not self._open:
            raise ValueError("the store is closed; open it again with vault.open_store()")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's own corruption errors become `Tampered`, like failed authentication; calls from
        several threads take turns."""
        with self._serial:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                    raise StoreFull() from None
                _schema.raise_if_corrupt(exc)
                raise

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._check_open()
        with self._guard(), self._db.atomic():
            yield

    # -- records -------------------------------------------------------------------------------

    def append(self, kind: str, payload: bytes, *, meta: Meta | None = None) -> str:
        """Encrypt and store one record under a fresh data key; returns its id."""
        return self.append_many([(kind, payload, meta)])[0]

    def append_many(self, items: Iterable[NewRecord]) -> tuple[str, ...]:
        """Store several records in one transaction: all of them, or (on any error) none.

        `items` is consumed inside the transaction, so a generator can stream a large batch.
        """
        ids: list[str] = []
        hashes: list[str] = []
        with self._transaction():
            for item in items:
                if not isinstance(item, tuple) or len(item) not in (2, 3):
                    raise TypeError("each item must be a (kind, payload) or (kind, payload, meta) tuple")
                kind, payload, meta = item if len(item) == 3 else (*item, None)
                rid, digest = self._insert_record(kind, payload, meta)
                ids.append(rid)
                hashes.append(digest)
            if ids:
                self._audit.append("append", ids, hashes)
        log.debug("appended %d records", len(ids))
        return tuple(ids)

    def _insert_record(
        self,
        kind: str,
        payload: bytes,
        meta: Meta | None,
        *,
        rid: str | None = None,
        created: datetime | None = None,
    ) -> tuple[str, str]:
        kind = check_name(kind, "kind")
        payload = check_payload(payload)
        meta = check_meta(meta)
        rid = rid if rid is not None else self._rng(ID_BYTES).hex()
        seq = self._next_seq()
        ident = Identity(_schema.SCHEMA_VERSION, self._user, kind, rid, (seq,))
        digest = self._store_object("records", {"seq": seq, "kind": kind}, ident, created or self._now(), meta, payload)
        return rid, digest

    def _store_object(
        self, table: str, fields: dict[str, Any], ident: Identity, created: datetime, meta: Meta, payload: bytes
    ) -> str:
        """Seal a new object under a fresh data key, insert its row and wrapped key; returns the
        hash of its ciphertexts for the audit entry."""
        sealed = seal_object(self._keys, ident, created, meta, payload, self._rng)
        row = {"id": ident.id, "size": len(payload), "schema": ident.schema, "meta": sealed.meta}
        self._db[table].insert({**fields, **row, "payload": sealed.payload})
        self._db["keys"].insert({"id": ident.id, "wrapped": sealed.wrapped})
        return _crypto.digest(sealed.meta + sealed.payload)

    def _next_seq(self) -> int:
        """Log positions are never reused, even after the newest record is shredded."""
        row = self._db.execute("SELECT value FROM store_info WHERE key = 'last_seq'").fetchone()
        if row is None or not row[0].isdigit():
            raise Tampered()
        (highest,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()
        seq = max(int(row[0]), highest) + 1
        self._db.execute("UPDATE store_info SET value = ? WHERE key = 'last_seq'", [str(seq)])
        return seq

    def _record_row(self, rid: str) -> tuple[Identity, int, bytes, bytes]:
        row = self._db.execute(
            "SELECT seq, kind, size, schema, meta, payload FROM records WHERE id = ?", [check_id(rid)]
        ).fetchone()
        if row is None:
            if self._db.execute("SELECT 1 FROM shredded WHERE id = ?", [rid]).fetchone():
                raise RecordShredded(rid)
            raise RecordNotFound(rid)
        seq, kind, size, schema, sealed_meta, sealed_payload = row
        return Identity(schema, self._user, kind, rid, (seq,)), size, sealed_meta, sealed_payload

    def _open_meta(self, ident: Identity, size: int, sealed_meta: bytes) -> Opened:
        key_row = self._db.execute("SELECT wrapped FROM keys WHERE id = ?", [ident.id]).fetchone()
        if key_row is None:
            raise Tampered()
        return open_meta(self._keys, ident, key_row[0], sealed_meta, size)

    def get(self, rid: str) -> bytes:
        """The record's payload; `Tampered` if any of its bytes or its position were altered."""
        self._check_open()
        with self._guard():
            ident, size, sealed_meta, sealed_payload = self._record_row(rid)
            return open_payload(self._open_meta(ident, size, sealed_meta), ident, sealed_payload)

    def info(self, rid: str) -> RecordInfo:
        """One record's kind, size, time and meta, without opening its payload."""
        self._check_open()
        with self._guard():
            ident, size, sealed_meta, _ = self._record_row(rid)
            opened = self._open_meta(ident, size, sealed_meta)
        return RecordInfo(rid, ident.kind, int(ident.extra[0]), size, opened.created, opened.meta)

    def list(self, kind: str | None = None) -> tuple[RecordInfo, ...]:
        """Records in log order (optionally of one kind), with their meta opened."""
        self._check_open()
        where, params = ("WHERE r.kind = ?", [check_name(kind, "kind")]) if kind is not None else ("", [])
        with self._guard():
            rows = self._db.execute(
                "SELECT r.id, r.seq, r.kind, r.size, r.schema, r.meta, k.wrapped FROM records r "
                f"LEFT JOIN keys k ON k.id = r.id {where} ORDER BY r.seq",
                params,
            ).fetchall()
        infos = []
        for rid, seq, row_kind, size, schema, sealed_meta, wrapped in rows:
            if wrapped is None:
                raise Tampered()
            ident = Identity(schema, self._user, row_kind, rid, (seq,))
            opened = open_meta(self._keys, ident, wrapped, sealed_meta, size)
            infos.append(RecordInfo(rid, row_kind, seq, size, opened.created, opened.meta))
        return tuple(infos)

    # -- forgetting ------------------------------------------------------------------------------

    def shred(self, ids: Iterable[str], *, note: Note | None = None) -> ShredReceipt:
        """Crypto-shred records: destroy each wrapped data key and row, and every checkpoint
        derived from them, then checkpoint the WAL and vacuum so no copy remains in the files.

        Unknown ids raise `RecordNotFound` before anything changes; ids shredded earlier are
        reported, not refused, so a forget interrupted half-way can simply be repeated. ``note``,
        called with the shredded ids and dropped checkpoint ids, returns a (kind, payload) record
        appended in the same transaction (a forget receipt no crash can separate from its shred).
        A crash before the vacuum is finished the next time the store opens.
        """
        wanted = list(dict.fromkeys(check_id(rid) for rid in ids))
        shredded: list[str] = []
        already: list[str] = []
        hashes: list[str] = []
        with self._transaction():
            seqs = []
            for rid in wanted:
                try:
                    ident, _, sealed_meta, sealed_payload = self._record_row(rid)
                except RecordShredded:
                    already.append(rid)
                    continue
                seqs.append(int(ident.extra[0]))
                shredded.append(rid)
                hashes.append(_crypto.digest(sealed_meta + sealed_payload))
            derived = [c for c in self._checkpoints() if any(c.first_seq <= s <= c.last_seq for s in seqs)]
            for rid in shredded:
                self._destroy("records", "id", rid)
                self._db["shredded"].insert({"id": rid})
            for c in derived:
                hashes.append(c.digest)
                self._destroy("checkpoints", "id", c.id)
            dropped = tuple(c.id for c in derived)
            entry = self._audit.append("shred", [*shredded, *dropped], hashes) if shredded else None
            if shredded:
                self._vacuum_due(True)
                if note is not None:
                    kind, payload = note(tuple(shredded), dropped)
                    rid, digest = self._insert_record(kind, payload, None)
                    self._audit.append("append", [rid], [digest])
        return self._after_destroy(shredded, already, dropped, entry.hash if entry else None)

    def _vacuum_due(self, due: bool) -> None:
        """Marks, inside a destroying transaction, that the files may still hold what it deleted
        until the vacuum that follows it has run (cleared by that vacuum)."""
        if due:
            self._db.execute("INSERT OR REPLACE INTO store_info (key, value) VALUES ('vacuum_due', '1')")
        else:
            self._db.execute("DELETE FROM store_info WHERE key = 'vacuum_due'")

    def _vacuum(self) -> None:
        """Fold the WAL in, rebuild the file without free pages, and fold again: no copy of deleted
        rows stays in `store.db` or its WAL."""
        with self._guard():
            _schema.checkpoint(self._db)
            self._db.execute("VACUUM")
            with self._db.atomic():
                self._vacuum_due(False)
            _schema.checkpoint(self._db)

    def _destroy(self, table: str, column: str, object_id: str) -> None:
        """Delete the wrapped key first: without it the row is noise even if a copy survives."""
        self._db.execute("DELETE FROM keys WHERE id = ?", [object_id])
        self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", [object_id])

    def _after_destroy(
        self, shredded: list[str], already: list[str], dropped: tuple[str, ...], audit_hash: str | None
    ) -> ShredReceipt:
        self._vacuum()
        self._remember_head()  # from now on, a copy from before this shred is an older store
        receipt = ShredReceipt(
            ids=tuple(shredded),
            already_shredded=tuple(already),
            checkpoints=dropped,
            keys_destroyed=len(shredded) + len(dropped),
            audit_hash=audit_hash,
            db_bytes=self._path.stat().st_size,
        )
        log.info("shredded %d records and %d checkpoints", len(shredded), len(dropped))
        return receipt

    # -- checkpoints ---------------------------------------------------------------------------

    def put_checkpoint(self, state: bytes, *, first: str, last: str, meta: Meta | None = None) -> str:
        """Store an encrypted model-state blob derived from records `first`..`last` (log order).

        Shredding any record in that range drops the checkpoint too (design.md: checkpoints
        derived from a forgotten episode are destroyed, not kept).
        """
        state = check_payload(state)
        meta = check_meta(meta)
        with self._transaction():
            first_seq = int(self._record_row(first)[0].extra[0])
            last_seq = int(self._record_row(last)[0].extra[0])
            if first_seq > last_seq:
                raise ValueError("checkpoint range is reversed: 'first' comes after 'last' in the log")
            cid = self._rng(ID_BYTES).hex()
            ident = self._checkpoint_identity(cid, first_seq, last_seq, _schema.SCHEMA_VERSION)
            fields = {"first_seq": first_seq, "last_seq": last_seq}
            digest = self._store_object("checkpoints", fields, ident, self._now(), meta, state)
            self._audit.append("checkpoint", [cid], [digest])
        return cid

    def _checkpoint_identity(self, cid: str, first_seq: int, last_seq: int, schema: int) -> Identity:
        return Identity(schema, self._user, "checkpoint", cid, (first_seq, last_seq))

    def _checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint with its range authenticated (a forged range could dodge a forget)."""
        rows = self._db.execute(
            "SELECT c.id, c.first_seq, c.last_seq, c.size, c.schema, c.meta, c.payload, k.wrapped "
            "FROM checkpoints c LEFT JOIN keys k ON k.id = c.id ORDER BY c.last_seq, c.id"
        ).fetchall()
        out = []
        for cid, first_seq, last_seq, size, schema, sealed_meta, sealed_payload, wrapped in rows:
            if wrapped is None:
                raise Tampered()
            ident = self._checkpoint_identity(cid, first_seq, last_seq, schema)
            opened = open_meta(self._keys, ident, wrapped, sealed_meta, size)
            digest = _crypto.digest(sealed_meta + sealed_payload)
            out.append(StoredCheckpoint(cid, first_seq, last_seq, ident, opened, sealed_payload, digest))
        return out

    def _find_checkpoint(self, cid: str) -> StoredCheckpoint:
        check_id(cid)
        for found in self._checkpoints():
            if found.id == cid:
                return found
        raise RecordNotFound(cid)

    def list_checkpoints(self) -> tuple[CheckpointInfo, ...]:
        """Checkpoints ordered by the end of their range, oldest first."""
        self._check_open()
        with self._guard():
            seq_to_id = dict(self._db.execute("SELECT seq, id FROM records").fetchall())
            infos = []
            for c in self._checkpoints():
                if c.first_seq not in seq_to_id or c.last_seq not in seq_to_id:
                    raise Tampered()
                first, last = seq_to_id[c.first_seq], seq_to_id[c.last_seq]
                infos.append(CheckpointInfo(c.id, first, last, c.opened.size, c.opened.created, c.opened.meta))
        return tuple(infos)

    def get_checkpoint(self, cid: str) -> bytes:
        """The checkpoint's state blob; `RecordNotFound` once it has been dropped."""
        self._check_open()
        with self._guard():
            found = self._find_checkpoint(cid)
            return open_payload(found.opened, found.ident, found.sealed_payload)

    def drop_checkpoint(self, cid: str) -> ShredReceipt:
        """Crypto-shred one checkpoint (its key, row, and any copy in the WAL)."""
        return self.drop_checkpoints([cid])

    def drop_checkpoints(self, cids: Iterable[str]) -> ShredReceipt:
        """Crypto-shred several checkpoints in one transaction and one vacuum (pruning old ones);
        `RecordNotFound` for an unknown id, before anything changes."""
        wanted = list(dict.fromkeys(check_id(cid) for cid in cids))
        if not wanted:
            raise ValueError("no checkpoint ids given")
        with self._transaction():
            found = {c.id: c for c in self._checkpoints()}
            for cid in wanted:
                if cid not in found:
                    raise RecordNotFound(cid)
                self._destroy("checkpoints", "id", cid)
            entry = self._audit.append("drop-checkpoint", wanted, [found[cid].digest for cid in wanted])
            self._vacuum_due(True)
        return self._after_destroy([], [], tuple(wanted), entry.hash)

    # -- settings --------------------------------------------------------------------------------
    # All settings are one sealed object, replaced whole on every change, whose id the audit chain
    # records: a deleted or older settings row is refused on open instead of falling back to defaults.

    def set_setting(self, name: str, value: Any) -> None:
        """Store an encrypted JSON value under a program-chosen name; replaces the old value."""
        check_name(name, "setting name")
        value = check_meta({"v": value})["v"]
        with self._transaction():
            values = self._settings_object()
            values[name] = value
            self._write_settings(values)

    def get_setting(self, name: str, default: Any = None) -> Any:
        """The setting's value, or `default` when it was never set."""
        self._check_open()
        check_name(name, "setting name")
        with self._guard():
            return self._settings_object().get(name, default)

    def settings(self) -> dict[str, Any]:
        """Every setting, opened."""
        self._check_open()
        with self._guard():
            return dict(sorted(self._settings_object().items()))

    def _settings_object(self) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT id, size, schema, meta, payload FROM settings WHERE name = ?", [SETTINGS_NAME]
        ).fetchone()
        if row is None:
            return {}
        values = self._open_setting(SETTINGS_NAME, *row)
        if not isinstance(values, dict):
            raise Tampered()
        return values

    def _open_setting(self, name: str, sid: str, size: int, schema: int, sealed_meta: bytes,
                      sealed_payload: bytes) -> Any:
        ident = Identity(schema, self._user, "setting", sid, (name,))
        value = open_payload(self._open_meta(ident, size, sealed_meta), ident, sealed_payload)
        return json.loads(value.decode("utf-8"))

    def _write_settings(self, values: dict[str, Any]) -> None:
        """Replace the settings object (row and wrapped key) inside the caller's transaction."""
        old = self._db.execute("SELECT id FROM settings WHERE name = ?", [SETTINGS_NAME]).fetchone()
        if old is not None:
            self._destroy("settings", "id", old[0])
        sid = self._rng(ID_BYTES).hex()
        ident = Identity(_schema.SCHEMA_VERSION, self._user, "setting", sid, (SETTINGS_NAME,))
        payload = json.dumps(values, allow_nan=False, sort_keys=True).encode("utf-8")
        digest = self._store_object("settings", {"name": SETTINGS_NAME}, ident, self._now(), {}, payload)
        self._audit.append(SETTINGS_ENTRY, [sid], [digest])

    def _fold_legacy_settings(self) -> None:
        """Stores written before settings were one object keep a row per name: fold them into one."""
        with self._guard():
            rows = self._db.execute(
                "SELECT name, id, size, schema, meta, payload FROM settings WHERE name != ?", [SETTINGS_NAME]
            ).fetchall()
        if not rows:
            return
        with self._transaction():
            values = self._settings_object() | {row[0]: self._open_setting(*row) for row in rows}
            for _, sid, *_ in rows:
                self._destroy("settings", "id", sid)
            self._write_settings(values)
            # Replacing a setting used to leave the old value's wrapped key behind: remove those too.
            self._db.execute("DELETE FROM keys WHERE id NOT IN (SELECT id FROM records UNION SELECT id FROM "
                             "checkpoints UNION SELECT id FROM settings)")
        log.info("folded %d settings into one sealed object", len(rows))

    # -- export / import -------------------------------------------------------------------------

    def export_json(self, path: str | Path) -> int:
        """Write a decrypted, human-readable JSON bundle of all records and settings (mode 0600).

        Refuses to overwrite an existing file. Returns the number of records exported.
        """
        records = [(info, self.get(info.id)) for info in self.list()]
        data = _export.encode_bundle(self._user, self._now(), records, self.settings())
        write_private(Path(path), data, replace=False)
        with self._transaction():
            self._audit.append("export", [info.id for info, _ in records], [])
        log.info("exported %d records", len(records))
        return len(records)

    def import_json(self, path: str | Path) -> int:
        """Load a bundle written by `export_json` into this store, which must be empty.

        Ids, order, times and meta are kept; everything is re-encrypted under this store's keys in
        one transaction. Returns the number of records imported.
        """
        bundle = _export.decode_bundle(Path(path).read_bytes())
        with self._transaction():
            for table in ("records", "checkpoints", "settings", "shredded"):
                if self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                    raise ValueError("import needs an empty store; create a new store to import into")
            ids, hashes = [], []
            for item in bundle.records:
                rid, digest = self._insert_record(item.kind, item.payload, item.meta, rid=item.id, created=item.created)
                ids.append(rid)
                hashes.append(digest)
            self._audit.append("import", ids, hashes)
            for name, value in bundle.settings.items():
                self.set_setting(name, value)  # nested: a savepoint inside this transaction
        log.info("imported %d records", len(ids))
        return len(ids)
