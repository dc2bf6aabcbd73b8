"""The vault: a user's store folder and the key hierarchy that opens it.

    passphrase --Argon2id (params + salt in vault.json)--> passphrase key
    passphrase key --AES-GCM wrap--> vault key (random, 256 bits; optionally in the OS keyring)
    vault key --HKDF--> wrapping key --AES-GCM wrap--> one random data key per object

Unlocking reads vault.json and nothing else, so a wrong passphrase changes no file. Changing the
passphrase re-wraps the vault key only: no record is re-encrypted, and every ciphertext in the
database stays byte-for-byte the same.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keyring
import keyring.errors

from privacy import _crypto, _schema
from privacy import export as _export
from privacy._crypto import KdfParams, Rng
from privacy._files import (
    DB_FILE,
    VAULT_FILE,
    StoreLock,
    check_user,
    disable_core_dumps,
    store_dir,
    write_private,
)
from privacy._records import KeySet
from privacy.audit import AuditLog
from privacy.errors import (
    KeyringUnavailable,
    PrivacyError,
    StoreExists,
    StoreNotFound,
    Tampered,
    UnsupportedSchema,
    WrongPassphrase,
)
from privacy.salvage import salvage
from privacy.store import Store

log = logging.getLogger(__name__)

HEADER_FORMAT = "hope-vault"
HEADER_VERSION = 1
KEYRING_SERVICE = "hope"
_CHECK_MESSAGE = b"hope-vault-check"

Progress = Callable[[str, int, int], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Header:
    """The clear part of vault.json: everything needed to unlock, nothing about the user's data."""

    user: str
    store_id: str
    kdf: KdfParams
    wrapped: bytes  # vault key sealed under the passphrase key
    check: str  # HMAC(check key, constant): proves a key from the keyring belongs to this store

    def aad(self) -> bytes:
        """The wrap is bound to user, store and KDF parameters: editing any of them breaks it."""
        return _crypto.aad("vault-key", HEADER_VERSION, self.user, self.store_id, *self.kdf.fields())

    def to_json(self) -> bytes:
        doc = {
            "format": HEADER_FORMAT,
            "version": HEADER_VERSION,
            "user": self.user,
            "store_id": self.store_id,
            "kdf": {
                "name": "argon2id",
                "memory_kib": self.kdf.memory_kib,
                "iterations": self.kdf.iterations,
                "lanes": self.kdf.lanes,
                "salt": base64.b64encode(self.kdf.salt).decode(),
            },
            "wrapped_key": base64.b64encode(self.wrapped).decode(),
            "check": self.check,
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> _Header:
        try:
            doc = json.loads(data)
            if doc["format"] != HEADER_FORMAT or not isinstance(doc["version"], int):
                raise Tampered()
            if doc["version"] > HEADER_VERSION:
                raise UnsupportedSchema(doc["version"], HEADER_VERSION)
            kdf = doc["kdf"]
            if kdf["name"] != "argon2id":
                raise Tampered()
            params = KdfParams(
                int(kdf["memory_kib"]), int(kdf["iterations"]), int(kdf["lanes"]), base64.b64decode(kdf["salt"])
            )
            store_id, check = doc["store_id"], doc["check"]
            if not isinstance(store_id, str) or len(bytes.fromhex(store_id)) != 16 or not isinstance(check, str):
                raise Tampered()
            return cls(check_user(doc["user"]), store_id, params, base64.b64decode(doc["wrapped_key"]), check)
        except (KeyError, TypeError, ValueError):  # includes JSON and base64 decoding errors
            raise Tampered() from None


def _read_header(directory: Path) -> _Header:
    try:
        data = (directory / VAULT_FILE).read_bytes()
    except FileNotFoundError:
        raise StoreNotFound() from None
    return _Header.from_json(data)


def _wrap(vault_key: bytes, passphrase: bytes, user: str, store_id: str, params: KdfParams, rng: Rng) -> _Header:
    check = _crypto.mac(KeySet.derive(vault_key, store_id).check, _CHECK_MESSAGE)
    unsealed = _Header(user, store_id, params, b"", check)
    passphrase_key = _crypto.derive_key(passphrase, params)
    wrapped = _crypto.seal(passphrase_key, vault_key, unsealed.aad(), rng)
    return _Header(user, store_id, params, wrapped, check)


def _unwrap(header: _Header, passphrase: bytes) -> bytes:
    passphrase_key = _crypto.derive_key(passphrase, header.kdf)
    try:
        return _crypto.open_sealed(passphrase_key, header.wrapped, header.aad())
    except Tampered:
        # A wrong passphrase and an edited header look the same; the first is far more likely.
        raise WrongPassphrase() from None


def _progress(on_progress: Progress | None, step: str, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(step, done, total)


class Vault:
    """An unlocked store folder. Make one with `Vault.create`, `Vault.unlock` or
    `Vault.unlock_from_keyring`; then `open_store()` to read and write.
    """

    def __init__(
        self, directory: Path, header: _Header, vault_key: bytes, *, now: Callable[[], datetime], rng: Rng
    ) -> None:
        disable_core_dumps()  # from the first moment a key is in memory (docs/SECURITY.md: what remains)
        keys = KeySet.derive(vault_key, header.store_id)
        if not _crypto.mac_matches(keys.check, _CHECK_MESSAGE, header.check):
            raise Tampered()
        self._dir = directory
        self._header = header
        self._vault_key = vault_key
        self._keys = keys
        self._now = now
        self._rng = rng
        self._store: Store | None = None

    def __repr__(self) -> str:
        return f"Vault({str(self._dir)!r})"

    @property
    def path(self) -> Path:
        return self._dir

    @property
    def user(self) -> str:
        return self._header.user

    @property
    def kdf_cost(self) -> int:
        """Argon2id memory as a multiple of the 64 MiB floor."""
        return self._header.kdf.cost

    # -- making and opening --------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None,
        passphrase: str,
        *,
        user: str = "default",
        kdf_cost: int = 1,
        on_progress: Progress | None = None,
        now: Callable[[], datetime] | None = None,
        rng: Rng | None = None,
    ) -> Vault:
        """Create a new store in `path` (or the per-user data folder when None) and unlock it.

        The folder must not exist or be empty. The store is assembled in a sibling folder and
        renamed into place, so an interrupted create leaves nothing half-made.
        """
        disable_core_dumps()  # before the passphrase is encoded and stretched
        user = check_user(user)
        secret = _crypto.passphrase_bytes(passphrase)
        directory = store_dir(path, user)
        now = now or _utc_now
        rng = rng or os.urandom
        if (directory / VAULT_FILE).exists():
            raise StoreExists()
        if directory.is_dir() and any(directory.iterdir()):
            raise ValueError(f"{directory} is not empty; choose an empty or new folder for a store")
        params = KdfParams.for_cost(kdf_cost, rng)
        store_id = rng(16).hex()
        vault_key = _crypto.new_key(rng)
        _progress(on_progress, "derive key", 0, 1)
        header = _wrap(vault_key, secret, user, store_id, params, rng)
        _progress(on_progress, "derive key", 1, 1)
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = directory.parent / f".{directory.name}.creating-{store_id}"
        staging.mkdir(mode=0o700)
        try:
            _initialize(
                staging, keys=KeySet.derive(vault_key, store_id), user=user, store_id=store_id, now=now, rng=rng
            )
            write_private(staging / VAULT_FILE, header.to_json(), replace=False)
            os.rename(staging, directory)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise StoreExists() from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("store created: kdf cost %d", kdf_cost)
        return cls(directory, header, vault_key, now=now, rng=rng)

    @classmethod
    def unlock(
        cls,
        path: str | os.PathLike[str] | None,
        passphrase: str,
        *,
        user: str | None = None,
        on_progress: Progress | None = None,
        now: Callable[[], datetime] | None = None,
        rng: Rng | None = None,
    ) -> Vault:
        """Derive the key from the passphrase and unlock; `WrongPassphrase` changes nothing."""
        disable_core_dumps()  # before the passphrase is encoded and stretched
        secret = _crypto.passphrase_bytes(passphrase)
        directory, header = cls._locate(path, user)
        _progress(on_progress, "derive key", 0, 1)
        vault_key = _unwrap(header, secret)
        _progress(on_progress, "derive key", 1, 1)
        log.info("store unlocked with passphrase")
        return cls(directory, header, vault_key, now=now or _utc_now, rng=rng or os.urandom)

    @classmethod
    def _locate(cls, path: str | os.PathLike[str] | None, user: str | None) -> tuple[Path, _Header]:
        directory = store_dir(path, check_user(user) if user is not None else "default")
        header = _read_header(directory)
        if user is not None and header.user != user:
            raise ValueError("the store in this folder belongs to a different user than the one given")
        return directory, header

    def open_store(self, *, accept_older: bool = False) -> Store:
        """Open the store for reading and writing; `StoreLocked` if another handle has it,
        `RolledBack` if it is older than the newest this machine has seen (``accept_older``: open a
        restored backup anyway, recorded in the audit, shredding again what was shredded since)."""
        lock = StoreLock(self._dir)
        lock.acquire()
        try:
            store = Store(
                self._dir,
                keys=self._keys,
                user=self._header.user,
                store_id=self._header.store_id,
                lock=lock,
                now=self._now,
                rng=self._rng,
                accept_older=accept_older,
            )
        except BaseException:
            lock.release()
            raise
        self._store = store
        return store

    def salvage_export(self, path: str | os.PathLike[str]) -> tuple[int, list[str]]:
        """For a store too damaged to open: export every record and the settings that still
        authenticate to a bundle at ``path`` (as `Store.export_json`, mode 0600), and return how many
        records it holds and the ids of what could not be read (privacy/salvage.py)."""
        with StoreLock(self._dir):
            found = salvage(self._dir / DB_FILE, self._keys, self._header.user)
        data = _export.encode_bundle(self._header.user, self._now(), found.records, found.settings)
        write_private(Path(path), data, replace=False)
        return len(found.records), found.unreadable

    # -- changing the passphrase ---------------------------------------------------------------

    def change_passphrase(self, old: str, new: str, *, kdf_cost: int | None = None) -> None:
        """Re-wrap the vault key under `new` (optionally at a new KDF cost); records are untouched.

        `old` is checked first, before any file is touched. To only raise the KDF cost, pass the
        same passphrase twice with a higher `kdf_cost`.
        """
        old_secret = _crypto.passphrase_bytes(old)
        new_secret = _crypto.passphrase_bytes(new)
        params = KdfParams.for_cost(self.kdf_cost if kdf_cost is None else kdf_cost, self._rng)
        current = _read_header(self._dir)
        if current.store_id != self._header.store_id or _unwrap(current, old_secret) != self._vault_key:
            raise Tampered()
        header = _wrap(self._vault_key, new_secret, current.user, current.store_id, params, self._rng)
        with self._exclusive() as store, store._transaction():
            if _read_header(self._dir) != current:
                raise PrivacyError("The passphrase was changed by another process meanwhile; unlock again.")
            store.audit.append("change-passphrase", [], [_crypto.digest(header.wrapped)])
            write_private(self._dir / VAULT_FILE, header.to_json(), replace=True)
        self._header = header
        log.info("passphrase changed: kdf cost %d", params.cost)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[Store]:
        """The store this vault already has open, or a briefly opened one (both hold the lock)."""
        if self._store is not None and self._store.is_open:
            yield self._store
            return
        with self.open_store() as store:
            yield store

    # -- OS keyring (opt-in) ---------------------------------------------------------------------

    def _keyring_name(self) -> str:
        return f"{self._header.user}/{self._header.store_id}"

    def remember_in_keyring(self) -> None:
        """Opt in: keep the vault key in the OS keyring, so unlocking needs no passphrase.

        Anyone who can read this account's keyring can then open the store; the passphrase keeps
        working. Raises `KeyringUnavailable` on machines without a keyring backend.
        """
        try:
            keyring.set_password(KEYRING_SERVICE, self._keyring_name(), base64.b64encode(self._vault_key).decode())
        except keyring.errors.KeyringError:
            raise KeyringUnavailable("no usable keyring backend") from None
        log.info("vault key stored in the OS keyring")

    def forget_keyring(self) -> None:
        """Opt out: remove the vault key from the OS keyring (a no-op when it is not there)."""
        with contextlib.suppress(keyring.errors.PasswordDeleteError, keyring.errors.NoKeyringError):
            keyring.delete_password(KEYRING_SERVICE, self._keyring_name())

    @classmethod
    def unlock_from_keyring(
        cls,
        path: str | os.PathLike[str] | None,
        *,
        user: str | None = None,
        now: Callable[[], datetime] | None = None,
        rng: Rng | None = None,
    ) -> Vault:
        """Unlock with the key saved by `remember_in_keyring`; `KeyringUnavailable` otherwise."""
        directory, header = cls._locate(path, user)
        try:
            encoded = keyring.get_password(KEYRING_SERVICE, f"{header.user}/{header.store_id}")
        except keyring.errors.KeyringError:
            raise KeyringUnavailable("no usable keyring backend") from None
        if encoded is None:
            raise KeyringUnavailable("no key saved for this store")
        try:
            vault_key = base64.b64decode(encoded, validate=True)
            vault = cls(directory, header, vault_key, now=now or _utc_now, rng=rng or os.urandom)
        except (ValueError, Tampered):
            raise KeyringUnavailable("the saved key does not open this store") from None
        log.info("store unlocked from the OS keyring")
        return vault


def _initialize(
    directory: Path, *, keys: KeySet, user: str, store_id: str, now: Callable[[], datetime], rng: Rng
) -> None:
    """Create the database of a new store inside `directory` (used by `Vault.create`)."""
    db = _schema.create_file(directory / DB_FILE)
    try:
        with db.atomic():
            db["store_info"].insert_all(
                [
                    {"key": "store_id", "value": store_id},
                    {"key": "user", "value": user},
                    {"key": "last_seq", "value": "0"},
                ]
            )
            AuditLog(db, keys, store_id, now=now, rng=rng).append("create", [], [])
        _schema.checkpoint(db)
    finally:
        db.close()
