"""How one encrypted object (record, checkpoint or setting) is laid out: keys, identity, envelope.

Each object gets a fresh random data key. The data key seals two things - a small meta envelope
(creation time, payload size, caller's meta) and the payload - and is itself wrapped by the vault's
wrapping key. All three ciphertexts carry the object's identity as associated data, so moving any
of them to another row, kind, position or user's store fails authentication.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from privacy import _crypto
from privacy._crypto import Rng
from privacy.errors import Tampered

Meta = dict[str, Any]

_NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
ID_BYTES = 16


def check_name(value: str, what: str) -> str:
    """Kinds and setting names are program identifiers (stored in the clear), not user text."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not valid: use 1-64 of a-z, 0-9, '_', '.', '-'")
    return value


def check_id(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"record id must be a str, got {type(value).__name__}")
    return value


@dataclass(frozen=True, repr=False)  # no key bytes in reprs, tracebacks or logs
class KeySet:
    """Per-purpose keys derived from the vault key; they live in memory only."""

    wrap: bytes  # wraps every data key
    audit_seal: bytes  # seals audit time stamps
    audit_mac: bytes  # authenticates the audit chain's head
    check: bytes  # proves a key from the OS keyring belongs to this store

    @classmethod
    def derive(cls, vault_key: bytes, store_id: str) -> KeySet:
        salt = bytes.fromhex(store_id)
        return cls(
            wrap=_crypto.subkey(vault_key, "hope/v1/wrap", salt),
            audit_seal=_crypto.subkey(vault_key, "hope/v1/audit-seal", salt),
            audit_mac=_crypto.subkey(vault_key, "hope/v1/audit-mac", salt),
            check=_crypto.subkey(vault_key, "hope/v1/check", salt),
        )


@dataclass(frozen=True)
class Identity:
    """Everything an object's ciphertexts are bound to: (schema version, user, kind, id, extra)."""

    schema: int
    user: str
    kind: str
    id: str
    extra: tuple[str | int, ...] = ()

    def aad(self, part: str) -> bytes:
        return _crypto.aad(part, self.schema, self.user, self.kind, self.id, *self.extra)


@dataclass(frozen=True)
class Sealed:
    """The three stored blobs of one object."""

    wrapped: bytes
    meta: bytes
    payload: bytes


@dataclass(frozen=True, repr=False)
class Opened:
    """An object's decrypted envelope; the data key is kept to open the payload on demand."""

    data_key: bytes
    created: datetime
    size: int
    meta: Meta


def check_meta(meta: Meta | None) -> Meta:
    """Meta must survive a JSON round trip unchanged, or the caller would get back something else."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
    try:
        same = json.loads(json.dumps(meta, allow_nan=False)) == meta
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValueError("meta must be JSON data: dicts with str keys, lists, str, int, finite float, bool, None")
    return meta


def check_payload(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    return bytes(payload)


def encode_meta(created: datetime, size: int, meta: Meta) -> bytes:
    """The plaintext of the meta envelope (UTF-8 JSON with sorted keys)."""
    if created.tzinfo is None:
        raise ValueError("now() must return a timezone-aware datetime")
    doc = {"created": created.isoformat(), "meta": meta, "size": size}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_meta(data: bytes) -> tuple[datetime, int, Meta]:
    """Inverse of `encode_meta`. Only authenticated bytes reach this, so a bad shape is a bug."""
    doc = json.loads(data.decode("utf-8"))
    return datetime.fromisoformat(doc["created"]), int(doc["size"]), doc["meta"]


def seal_object(keys: KeySet, ident: Identity, created: datetime, meta: Meta, payload: bytes, rng: Rng) -> Sealed:
    data_key = _crypto.new_key(rng)
    envelope = encode_meta(created, len(payload), meta)
    return Sealed(
        wrapped=_crypto.wrap_key(keys.wrap, data_key, ident.aad("data-key"), rng),
        meta=_crypto.seal(data_key, envelope, ident.aad("meta"), rng),
        payload=_crypto.seal(data_key, payload, ident.aad("payload"), rng),
    )


def open_meta(keys: KeySet, ident: Identity, wrapped: bytes, sealed_meta: bytes, size: int) -> Opened:
    """Unwrap the data key and open the envelope; the clear `size` column must agree with it."""
    data_key = _crypto.unwrap_key(keys.wrap, wrapped, ident.aad("data-key"))
    created, sealed_size, meta = decode_meta(_crypto.open_sealed(data_key, sealed_meta, ident.aad("meta")))
    if sealed_size != size:
        raise Tampered()
    return Opened(data_key, created, size, meta)


def open_payload(opened: Opened, ident: Identity, sealed_payload: bytes) -> bytes:
    payload = _crypto.open_sealed(opened.data_key, sealed_payload, ident.aad("payload"))
    if len(payload) != opened.size:
        raise Tampered()
    return payload


@dataclass(frozen=True)
class RecordInfo:
    """What `list` shows of a record without opening its payload."""

    id: str
    kind: str
    seq: int
    size: int
    created: datetime
    meta: Meta


@dataclass(frozen=True)
class CheckpointInfo:
    """A stored model-state blob and the inclusive record range it was derived from."""

    id: str
    first: str
    last: str
    size: int
    created: datetime
    meta: Meta


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row with its meta opened and range authenticated (internal to the store)."""

    id: str
    first_seq: int
    last_seq: int
    ident: Identity
    opened: Opened
    sealed_payload: bytes
    digest: str


@dataclass(frozen=True)
class ShredReceipt:
    """What a shred destroyed: the user-facing proof that forgetting happened."""

    ids: tuple[str, ...]  # records shredded by this call
    already_shredded: tuple[str, ...]  # asked for, but gone before this call
    checkpoints: tuple[str, ...]  # checkpoints dropped (derived from a shredded record, or asked for)
    keys_destroyed: int
    audit_hash: str | None  # the audit entry recording it (None when nothing was destroyed)
    db_bytes: int  # size of the database file after vacuum
