"""The audit log: a hash chain of content-free entries, written in the same transaction as the action.

An entry holds the action name, the record ids it touched, SHA-256 hashes of the ciphertexts
involved (never of plaintext, which could be confirmed by guessing), the time sealed with an audit
key, the previous entry's hash and its own hash. A chain alone cannot notice its last entries being
cut off or the whole chain being recomputed, so the head (count, last hash) is also stored with an
HMAC under a key derived from the vault key: verifying needs the store unlocked, forging needs it
too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from privacy import _crypto
from privacy._crypto import Rng
from privacy._records import KeySet
from privacy.errors import Tampered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain as stored; `stamp` is the sealed time, opaque to the chain."""

    index: int
    action: str
    ids: tuple[str, ...]
    hashes: tuple[str, ...]
    stamp: bytes
    prev: str
    hash: str


@dataclass(frozen=True)
class AuditEvent:
    """An entry as shown to the user: the same fields with the time opened."""

    index: int
    action: str
    ids: tuple[str, ...]
    hashes: tuple[str, ...]
    time: datetime
    hash: str


@dataclass(frozen=True)
class AuditVerdict:
    """Result of `verify`: truthy when the chain is intact; otherwise where it first goes wrong.

    reason is one of "entry" (entry at first_bad edited, moved, inserted or missing), "missing"
    (entries from first_bad on were removed), "unsealed" (entries from first_bad on were added
    outside the store) or "head" (the sealed head does not match: the chain cannot be vouched
    for from first_bad = 0).
    """

    ok: bool
    count: int
    first_bad: int | None = None
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def _decode_list(text: object) -> tuple[str, ...]:
    """A stored JSON list of strings; anything else is kept raw, so its entry fails verification."""
    try:
        value = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (str(text),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return (str(text),)


def genesis(store_id: str) -> str:
    """The `prev` of entry 0, tied to the store so a chain cannot be moved between stores."""
    return hashlib.sha256(b"hope-audit-genesis\x00" + store_id.encode("ascii")).hexdigest()


def entry_hash(index: int, action: str, ids: Sequence[str], hashes: Sequence[str], stamp: bytes, prev: str) -> str:
    body = json.dumps([index, action, list(ids), list(hashes), stamp.hex(), prev], separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def link(index: int, prev: str, action: str, ids: Sequence[str], hashes: Sequence[str], stamp: bytes) -> AuditEntry:
    """The entry at `index`, chained to the hash `prev` of the one before (or the genesis)."""
    digest = entry_hash(index, action, ids, hashes, stamp, prev)
    return AuditEntry(index, action, tuple(ids), tuple(hashes), stamp, prev, digest)


def verify_chain(entries: Sequence[AuditEntry], *, first_prev: str, head: tuple[int, str] | None) -> AuditVerdict:
    """Check every link, then that the chain ends where the (already authenticated) head says."""
    expected_prev = first_prev
    for position, entry in enumerate(entries):
        try:
            recomputed = entry_hash(entry.index, entry.action, entry.ids, entry.hashes, entry.stamp, entry.prev)
        except (TypeError, ValueError, AttributeError):  # a cell edited to the wrong type
            return AuditVerdict(False, len(entries), position, "entry")
        if entry.index != position or entry.prev != expected_prev or entry.hash != recomputed:
            return AuditVerdict(False, len(entries), position, "entry")
        expected_prev = entry.hash
    if head is not None:
        count, last = head
        if count > len(entries):
            return AuditVerdict(False, len(entries), len(entries), "missing")
        if count < len(entries):
            return AuditVerdict(False, len(entries), count, "unsealed")
        if last != expected_prev:
            return AuditVerdict(False, len(entries), 0, "head")
    return AuditVerdict(True, len(entries))


class AuditLog:
    """The store's audit chain. Obtain it as `store.audit`; entries are added by the store itself."""

    def __init__(self, db: Database, keys: KeySet, store_id: str, *, now: Callable[[], datetime], rng: Rng) -> None:
        self._db = db
        self._keys = keys
        self._first_prev = genesis(store_id)
        self._now = now
        self._rng = rng

    def _stored(self) -> list[AuditEntry]:
        rows = self._db.execute("SELECT idx, action, ids, hashes, stamp, prev, hash FROM audit ORDER BY idx").fetchall()
        return [
            AuditEntry(idx, action, _decode_list(ids), _decode_list(hashes), stamp, prev, digest)
            for idx, action, ids, hashes, stamp, prev, digest in rows
        ]

    def _head(self) -> tuple[int, str] | None:
        """The authenticated (count, last hash), the genesis for an empty log, or None when the
        head's MAC fails or it is missing from a non-empty log."""
        row = self._db.execute("SELECT count, hash, tag FROM audit_head WHERE id = 1").fetchone()
        if row is None:
            empty = self._db.execute("SELECT 1 FROM audit LIMIT 1").fetchone() is None
            return (0, self._first_prev) if empty else None
        count, last, tag = row
        if not _crypto.mac_matches(self._keys.audit_mac, f"{count}:{last}".encode(), tag):
            return None
        return count, last

    def append(self, action: str, ids: Sequence[str], hashes: Sequence[str]) -> AuditEntry:
        """Add an entry after the authenticated head; the caller must be inside the transaction of
        the action recorded. Chaining from the head (not the last row) keeps a cut-off tail visible."""
        assert self._db.conn.in_transaction, "audit entries must share the action's transaction"
        head = self._head()
        if head is None:
            raise Tampered()
        index, prev = head
        when = self._now().isoformat().encode()
        stamp = _crypto.seal(self._keys.audit_seal, when, _crypto.aad("audit-time", index), self._rng)
        entry = link(index, prev, action, ids, hashes, stamp)
        self._db["audit"].insert(
            {
                "idx": entry.index,
                "action": entry.action,
                "ids": json.dumps(list(entry.ids)),
                "hashes": json.dumps(list(entry.hashes)),
                "stamp": entry.stamp,
                "prev": entry.prev,
                "hash": entry.hash,
            }
        )
        tag = _crypto.mac(self._keys.audit_mac, f"{index + 1}:{entry.hash}".encode())
        self._db["audit_head"].upsert({"id": 1, "count": index + 1, "hash": entry.hash, "tag": tag}, pk="id")
        log.debug("audit entry %d: %s, %d ids", entry.index, action, len(entry.ids))
        return entry

    def entries(self) -> tuple[AuditEvent, ...]:
        """All entries with their times opened; a stamp that fails authentication raises Tampered."""
        return tuple(
            AuditEvent(
                e.index,
                e.action,
                e.ids,
                e.hashes,
                datetime.fromisoformat(
                    _crypto.open_sealed(self._keys.audit_seal, e.stamp, _crypto.aad("audit-time", e.index)).decode()
                ),
                e.hash,
            )
            for e in self._stored()
        )

    def verified(self) -> list[AuditEntry]:
        """The stored chain once every link and the sealed head check out; `Tampered` otherwise."""
        entries = self._stored()
        head = self._head()
        if head is None or not verify_chain(entries, first_prev=self._first_prev, head=head):
            raise Tampered()
        return entries

    def verify(self) -> AuditVerdict:
        """Detect any edited, removed, reordered, inserted or appended entry; never raises for one."""
        entries = self._stored()
        head = self._head()
        if head is None:
            return AuditVerdict(False, len(entries), 0, "head")
        verdict = verify_chain(entries, first_prev=self._first_prev, head=head)
        if not verdict:
            log.warning("audit chain failed verification at entry %s (%s)", verdict.first_bad, verdict.reason)
        return verdict
