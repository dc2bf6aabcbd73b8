"""What the audit chain says the store holds, and the check on every open that it does.

Each write appends its audit entry in its own transaction, so the verified chain is a ledger of
every object ever added and destroyed. Rows edited behind the store's back (a shredded record or
a dropped checkpoint put back from an older copy, a record, receipt or the settings deleted)
leave the tables disagreeing with it, and the store refuses to open (`Tampered`). Replacing the
whole folder with an older consistent copy is a different attack (rollback, docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from privacy.audit import AuditEntry
from privacy.errors import Tampered

SETTINGS_ENTRY = "settings"  # the action that writes the one settings object (privacy.store)
LEGACY_SETTING_ENTRY = "setting"  # one row per name, before settings were one object


@dataclass
class Ledger:
    """The ids the chain says are live (records, checkpoints), shredded, and the settings object."""

    records: set[str] = field(default_factory=set)
    shredded: set[str] = field(default_factory=set)
    checkpoints: set[str] = field(default_factory=set)
    settings: str | None = None  # id of the newest settings object; None: never written as one

    @classmethod
    def replay(cls, entries: Iterable[AuditEntry]) -> Ledger:
        ledger = cls()
        for entry in entries:
            ids = set(entry.ids)
            if entry.action in ("append", "import"):
                ledger.records |= ids
            elif entry.action == "checkpoint":
                ledger.checkpoints |= ids
            elif entry.action == "drop-checkpoint":
                ledger.checkpoints -= ids
            elif entry.action == "shred":  # shredded records and the checkpoints derived from them
                ledger.shredded |= ids & ledger.records
                ledger.records -= ids
                ledger.checkpoints -= ids
            elif entry.action == SETTINGS_ENTRY:
                ledger.settings = entry.ids[0] if len(entry.ids) == 1 else None
        return ledger

    def check(self, *, records: set[str], shredded: set[str], checkpoints: set[str],
              settings: dict[str, str]) -> None:
        """`Tampered` unless the tables (ids by table; settings as name -> id) match the ledger."""
        if records != self.records or shredded != self.shredded or checkpoints != self.checkpoints:
            raise Tampered()
        if self.settings is not None and settings != {SETTINGS_NAME: self.settings}:
            raise Tampered()
        if self.settings is None and SETTINGS_NAME in settings:  # an object the chain never wrote
            raise Tampered()


SETTINGS_NAME = ":all"  # the settings table's one row (names chosen by programs never start with ':')
