"""The export bundle: a decrypted, human-readable JSON copy of a user's own records and settings.

The format is meant to be read by a person (and by `Store.import_json`): one JSON object, records in
log order, payloads as text when they are valid UTF-8 and as base64 otherwise. Checkpoints are not
exported: they are a cache the model rebuilds from the records.

Example:

    {"format": "hope-export", "version": 1, "user": "ana", "exported": "2026-11-26T10:00:00+00:00",
     "records": [{"id": "...", "kind": "episode", "created": "...", "meta": {}, "text": "hello"}],
     "settings": {"never-learn": ["email"]}}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privacy.store import RecordInfo

FORMAT = "hope-export"
VERSION = 1
_ID_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class BundleRecord:
    id: str
    kind: str
    created: datetime
    meta: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class Bundle:
    user: str
    exported: datetime
    records: tuple[BundleRecord, ...]
    settings: dict[str, Any]


def _payload_fields(payload: bytes) -> dict[str, str]:
    try:
        return {"text": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(payload).decode("ascii")}


def encode_bundle(
    user: str,
    exported: datetime,
    records: Sequence[tuple[RecordInfo, bytes]],
    settings: dict[str, Any],
) -> bytes:
    """The bundle as UTF-8 JSON, indented so it reads well in an editor."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "user": user,
        "exported": exported.isoformat(),
        "records": [
            {
                "id": info.id,
                "kind": info.kind,
                "created": info.created.isoformat(),
                "meta": info.meta,
                **_payload_fields(payload),
            }
            for info, payload in records
        ],
        "settings": settings,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def _bad(where: str) -> ValueError:
    return ValueError(f"not a valid hope export bundle: {where}")


def _field(doc: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        raise _bad(f"{where} needs '{name}' of type {kind.__name__}")
    return value


def _time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{where} has an unreadable time") from None
    if value.tzinfo is None:
        raise _bad(f"{where} has a time without a timezone")
    return value


def _record(doc: Any, index: int) -> BundleRecord:
    where = f"record {index}"
    if not isinstance(doc, dict):
        raise _bad(f"{where} is not an object")
    rid = _field(doc, "id", str, where)
    if not _ID_RE.fullmatch(rid):
        raise _bad(f"{where} has a malformed id")
    if ("text" in doc) == ("base64" in doc):
        raise _bad(f"{where} needs exactly one of 'text' or 'base64'")
    if "text" in doc:
        payload = _field(doc, "text", str, where).encode("utf-8")
    else:
        try:
            payload = base64.b64decode(_field(doc, "base64", str, where), validate=True)
        except binascii.Error:
            raise _bad(f"{where} has invalid base64") from None
    return BundleRecord(
        id=rid,
        kind=_field(doc, "kind", str, where),
        created=_time(_field(doc, "created", str, where), where),
        meta=_field(doc, "meta", dict, where),
        payload=payload,
    )


def decode_bundle(data: bytes) -> Bundle:
    """Parse and check a bundle; `ValueError` names the first problem (never its content)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("the file is not UTF-8 JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(f"'format' is not '{FORMAT}'")
    if doc.get("version") != VERSION:
        raise _bad(f"only version {VERSION} is supported")
    records = tuple(_record(item, i) for i, item in enumerate(_field(doc, "records", list, "bundle")))
    if len({r.id for r in records}) != len(records):
        raise _bad("record ids repeat")
    return Bundle(
        user=_field(doc, "user", str, "bundle"),
        exported=_time(_field(doc, "exported", str, "bundle"), "bundle"),
        records=records,
        settings=_field(doc, "settings", dict, "bundle"),
    )
