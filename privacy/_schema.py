"""Hazmat layer: the SQLite file (sqlite-utils tables), its pragmas, integrity checks and migrations.

What is stored in the clear is limited to what opening and integrity need: ids, kinds, sizes,
sequence numbers, the format version of each row, and the audit chain's hashes. Times, meta and
payloads exist only inside AES-GCM ciphertexts (see docs/SECURITY.md).

Journal mode: WAL with synchronous=FULL. A commit is durable once `COMMIT` returns, a killed
writer leaves only uncommitted frames behind (ignored on the next open), and a shred never copies
old page images into a rollback journal: the pages it zeroes (secure_delete) are written as new WAL
frames, then checkpointed over the originals and the WAL is truncated.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from privacy.errors import Tampered, UnsupportedSchema

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# SQLite primary result codes that mean "these bytes are not a sound database".
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def _create_v1(db: Database) -> None:
    """Baseline tables. Every encrypted object has a random id and exactly one wrapped key."""
    db["store_info"].create({"key": str, "value": str}, pk="key", not_null={"value"})
    db["records"].create(
        {
            "seq": int,  # log order; bound into the associated data, so reordering is detected
            "id": str,
            "kind": str,
            "size": int,  # payload bytes
            "schema": int,  # format version the row was written under (part of the AAD)
            "meta": bytes,  # sealed {created, size, meta}
            "payload": bytes,  # sealed payload
        },
        pk="seq",
        not_null={"id", "kind", "size", "schema", "meta", "payload"},
    )
    db["records"].create_index(["id"], unique=True)
    db["records"].create_index(["kind", "seq"])
    db["keys"].create({"id": str, "wrapped": bytes}, pk="id", not_null={"wrapped"})
    db["checkpoints"].create(
        {
            "id": str,
            "first_seq": int,  # the episode range the state derives from (also in the AAD)
            "last_seq": int,
            "size": int,
            "schema": int,
            "meta": bytes,
            "payload": bytes,
        },
        pk="id",
        not_null={"first_seq", "last_seq", "size", "schema", "meta", "payload"},
    )
    db["settings"].create(
        {"name": str, "id": str, "size": int, "schema": int, "meta": bytes, "payload": bytes},
        pk="name",
        not_null={"id", "size", "schema", "meta", "payload"},
    )
    db["settings"].create_index(["id"], unique=True)
    db["shredded"].create({"id": str}, pk="id")
    db["audit"].create(
        {
            "idx": int,
            "action": str,
            "ids": str,  # JSON list of record ids
            "hashes": str,  # JSON list of SHA-256 hex of ciphertexts
            "stamp": bytes,  # sealed time of the action
            "prev": str,
            "hash": str,
        },
        pk="idx",
        not_null={"action", "ids", "hashes", "stamp", "prev", "hash"},
    )
    db["audit_head"].create(
        {"id": int, "count": int, "hash": str, "tag": str},
        pk="id",
        not_null={"count", "hash", "tag"},
    )


# version -> step that upgrades a database from version - 1. Add a step, bump SCHEMA_VERSION.
MIGRATIONS: dict[int, Callable[[Database], None]] = {1: _create_v1}


def read_version(db: Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    if row is None or not isinstance(row[0], int):
        raise Tampered()
    return row[0]


def migrate(db: Database, target: int | None = None) -> int:
    """Bring the database to `target` in one transaction; a no-op when it is already there.

    Returns the number of steps applied. A database newer than this code is refused rather than
    guessed at.
    """
    target = SCHEMA_VERSION if target is None else target
    current = read_version(db)
    if current > target:
        raise UnsupportedSchema(current, target)
    if current == target:
        return 0
    with db.atomic():
        if current == 0:
            db["schema_version"].create({"version": int})
            db["schema_version"].insert({"version": 0})
        for version in range(current + 1, target + 1):
            MIGRATIONS[version](db)
            db.execute("UPDATE schema_version SET version = ?", [version])
            log.info("store schema migrated to version %d", version)
    return target - current


def connect(path: Path) -> Database:
    """Open the store's database with the pragmas every connection must have."""
    # One connection may serve several threads in turn (an app's workers); `Store` serialises them.
    conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
    db = Database(conn, execute_plugins=False)
    try:
        db.execute("PRAGMA secure_delete = ON")  # zero deleted content in pages we free
        db.execute("PRAGMA temp_store = MEMORY")  # VACUUM's temporary copy never touches disk
        db.execute("PRAGMA synchronous = FULL")
        db.enable_wal()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise_if_corrupt(exc)
        raise
    return db


def create_file(path: Path) -> Database:
    """Create an empty database file with mode 0600 (SQLite gives its -wal/-shm the same mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    db = connect(path)
    migrate(db)
    return db


def checkpoint(db: Database) -> None:
    """Copy the WAL into the database file and truncate the WAL to zero bytes."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.warning("WAL checkpoint incomplete: another connection holds the database")


def check_integrity(db: Database, path: Path) -> None:
    """Refuse a database that SQLite finds damaged, or whose file was truncated or extended.

    SQLite ignores bytes appended past the last page, so the size is compared with the page count
    after the WAL is folded in.
    """
    try:
        checkpoint(db)
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        result = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise_if_corrupt(exc)
        raise
    if result != [("ok",)] or path.stat().st_size != page_size * pages:
        log.warning("store database failed its integrity check")
        raise Tampered()


def raise_if_corrupt(exc: sqlite3.DatabaseError) -> None:
    """Translate SQLite's 'malformed'/'not a database' into `Tampered`; leave other errors be."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _CORRUPT_CODES:
        raise Tampered() from None
