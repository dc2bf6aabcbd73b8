"""Salvage: when a store is damaged (a bad page, a cut file) it no longer opens, but most of what it
holds may still authenticate. Salvage reads row by row, each row looked up by its key so one bad
page costs only the rows on it, keeps every record and the settings that still authenticate, and
names by id what could not be read. Checkpoints are not salvaged: they derive from the records and
are rebuilt by replaying them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from privacy._records import Identity, KeySet, RecordInfo, open_meta, open_payload
from privacy.errors import PrivacyError
from privacy.ledger import SETTINGS_NAME, Ledger

log = logging.getLogger(__name__)

_PROBE_PAST = 1000  # positions probed past the highest one read, when the table scan broke off


@dataclass(frozen=True)
class Salvaged:
    records: list[tuple[RecordInfo, bytes]]
    settings: dict[str, Any]
    unreadable: list[str]  # record ids the audit chain names but no readable row holds; "settings"


def _try(read: Callable[[], Any]) -> Any:
    """``read()``, or None when SQLite or the authentication refuses it."""
    try:
        return read()
    except (sqlite3.DatabaseError, PrivacyError, ValueError, KeyError, TypeError):
        return None


def salvage(db_path: Path, keys: KeySet, user: str) -> Salvaged:
    """Everything that still authenticates in the damaged database at ``db_path`` (read only)."""
    uri = f"file:{db_path}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        def rows(sql: str, *params: object) -> list[tuple]:
            return conn.execute(sql, params).fetchall()

        seqs: set[int] = set()
        scanned = _try(lambda: rows("SELECT seq FROM records"))
        seqs |= {s for (s,) in scanned or []}
        last = _try(lambda: int(rows("SELECT value FROM store_info WHERE key = 'last_seq'")[0][0])) or 0
        top = max([last, *seqs]) + (0 if scanned is not None else _PROBE_PAST)
        records, unreadable = [], []
        for seq in range(1, top + 1):
            row = _try(lambda s=seq: rows("SELECT id, kind, size, schema, meta, payload FROM records WHERE seq = ?", s))
            if row == []:
                continue  # never written, or shredded
            if row is None:
                unreadable.append(f"seq {seq}")
                continue
            rid, kind, size, schema, sealed_meta, sealed_payload = row[0]
            ident = Identity(schema, user, kind, rid, (seq,))

            def read(seq=seq, ident=ident, size=size, sealed_meta=sealed_meta, sealed_payload=sealed_payload):
                wrapped = rows("SELECT wrapped FROM keys WHERE id = ?", ident.id)[0][0]
                opened = open_meta(keys, ident, wrapped, sealed_meta, size)
                info = RecordInfo(ident.id, ident.kind, seq, size, opened.created, opened.meta)
                return info, open_payload(opened, ident, sealed_payload)

            got = _try(read)
            if got is None:
                unreadable.append(rid)
            else:
                records.append(got)
        # The audit chain names every live record: those not read above were on damaged pages
        # (a damaged leaf can hide its rows from a lookup instead of failing it).
        live = _try(lambda: Ledger.replay(_entries(rows("SELECT idx, action, ids FROM audit ORDER BY idx"))).records)
        if live is not None:
            unreadable = sorted(live - {info.id for info, _ in records})
        settings = _try(lambda: _settings(rows, keys, user))
        if settings is None:
            unreadable.append("settings")
    log.info("salvaged %d records; %d unreadable", len(records), len(unreadable))
    return Salvaged(records, settings or {}, unreadable)


def _entries(rows: list[tuple]) -> list[SimpleNamespace]:
    return [SimpleNamespace(action=action, ids=tuple(json.loads(ids))) for _, action, ids in rows]


def _settings(rows: Callable[..., list[tuple]], keys: KeySet, user: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, sid, size, schema, sealed_meta, sealed_payload in rows(
            "SELECT name, id, size, schema, meta, payload FROM settings"):
        ident = Identity(schema, user, "setting", sid, (name,))
        wrapped = rows("SELECT wrapped FROM keys WHERE id = ?", sid)[0][0]
        value = json.loads(open_payload(open_meta(keys, ident, wrapped, sealed_meta, size), ident, sealed_payload))
        values |= value if name == SETTINGS_NAME else {name: value}
    return values

