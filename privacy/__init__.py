"""Encrypted per-user memory: vault (keys, unlock), store (records, checkpoints, settings), audit
chain and PII redaction. Stores bytes; never imports model code.

    vault = Vault.create(path, passphrase)        # Argon2id floor enforced inside
    vault = Vault.unlock(path, passphrase)        # raises WrongPassphrase, changes nothing
    with vault.open_store() as store:             # file lock: a second process gets StoreLocked
        rid = store.append("episode", payload)    # one transaction, fresh data key, AAD inside
        receipt = store.shred([rid])              # ShredReceipt: ids, keys destroyed, vacuumed

Internals (`_crypto`, `_schema`, `_records`, `_files`) are not part of the API.
"""

from __future__ import annotations

from privacy.audit import AuditLog
from privacy.errors import (
    KeyringUnavailable,
    PrivacyError,
    RecordNotFound,
    RecordShredded,
    RolledBack,
    StoreExists,
    StoreFull,
    StoreLocked,
    StoreNotFound,
    Tampered,
    UnsupportedSchema,
    WrongPassphrase,
)
from privacy.redact import detect, redact
from privacy.store import ShredReceipt, Store
from privacy.vault import Vault

__all__ = [
    "AuditLog",
    "KeyringUnavailable",
    "PrivacyError",
    "RecordNotFound",
    "RecordShredded",
    "RolledBack",
    "ShredReceipt",
    "Store",
    "StoreExists",
    "StoreFull",
    "StoreLocked",
    "StoreNotFound",
    "Tampered",
    "UnsupportedSchema",
    "Vault",
    "WrongPassphrase",
    "detect",
    "redact",
]
