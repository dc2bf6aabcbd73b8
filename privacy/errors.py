"""The exceptions privacy/ raises: one base class, one subclass per failure a caller can act on.

Messages say what the user can do next and never contain user content (no payloads, no meta, no
passphrases, no user names): they may end up in logs, bug reports and terminal scrollback.
"""

from __future__ import annotations


class PrivacyError(Exception):
    """Base class: catch this to handle every refusal from privacy/ in one place."""


class WrongPassphrase(PrivacyError):
    """The passphrase does not open this store; nothing on disk was changed."""

    def __init__(self) -> None:
        super().__init__(
            "Wrong passphrase for this store. Nothing was changed; try again with the passphrase "
            "the store was created (or last changed) with."
        )


class Tampered(PrivacyError):
    """The store's bytes fail authentication or integrity checks.

    Deliberately one error for every cause (flipped byte, swapped rows, truncated or extended file,
    wrong associated data): telling an attacker which check failed helps them, telling the user
    does not change what they should do.
    """

    def __init__(self) -> None:
        super().__init__(
            "The store failed an integrity check: its files were damaged or altered. Nothing was "
            "changed; restore the store folder from a backup, or export what still opens "
            "(hope: memories export FILE --salvage)."
        )


class StoreFull(PrivacyError):
    """The disk (or the database's size limit) ran out mid-write; the transaction was rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "The disk is full: the last change was not written, and nothing stored before it was lost. "
            "Free some space and try again."
        )


class StoreLocked(PrivacyError):
    """Another process (or another open handle in this one) is writing this store."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"The store is open in {holder}. Close it there (or wait for it to finish), then try again.")


class RolledBack(PrivacyError):
    """The store's history is behind (or apart from) the newest one this machine has seen of it."""

    def __init__(self) -> None:
        super().__init__(
            "This store is older than the one last opened on this machine: it is a restored backup, or an "
            "older copy was put back (which would undo forgets). Nothing was changed. To restore a backup "
            "on purpose, open it once accepting the older store (hope: --accept-older-store); that is "
            "recorded in the audit, and memories forgotten since are shredded again."
        )


class RecordNotFound(PrivacyError):
    """No record, checkpoint or setting with this id was ever stored here."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        super().__init__(f"No record with id {record_id} in this store. List the store to see valid ids.")


class RecordShredded(PrivacyError):
    """The record existed but was crypto-shredded: its key is destroyed and it cannot come back."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        super().__init__(f"Record {record_id} was shredded (forgotten) and cannot be read. Nothing else to do.")


class StoreExists(PrivacyError):
    """Creating a store where one already is would destroy the old store's key."""

    def __init__(self) -> None:
        super().__init__("A store already exists in this folder. Unlock it, or choose another folder or user.")


class StoreNotFound(PrivacyError):
    """There is no store (no vault header) at the given place."""

    def __init__(self) -> None:
        super().__init__(
            "No store found in this folder. Create one first, or point HOPE_DATA_DIR at the data folder that holds it."
        )


class UnsupportedSchema(PrivacyError):
    """The store was written by a newer version of this program."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"The store uses format version {found}; this program reads up to version "
            f"{supported}. Upgrade the program; the store was not changed."
        )


class KeyringUnavailable(PrivacyError):
    """The OS keyring has no backend, no entry for this store, or an entry that does not open it."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The OS keyring cannot unlock this store ({reason}). Use the passphrase.")
