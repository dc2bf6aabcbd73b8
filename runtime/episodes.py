"""What the encrypted log holds, as bytes: episodes (one exchange each), sleeps and forget receipts.

The log is the truth (design.md): every user-dependent tensor is replayed from these records in
their *order*, which is the record's log position, except that a redacted episode takes the place
of the one it replaces. Payloads are JSON inside the store's encryption; metadata holds only
counts, category names and positions, never words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EPISODE, SLEEP, RECEIPT = "episode", "sleep", "receipt"
FORMAT = 1


class CorruptRecord(ValueError):
    """A record decrypted and authenticated, but its content is not what this program writes."""


def _load(payload: bytes, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CorruptRecord(f"a {kind} record is not valid JSON") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        raise CorruptRecord(f"a {kind} record has an unknown format")
    return data


@dataclass(frozen=True)
class Episode:
    """One exchange. ``learned`` is what the model read and learned: the user's words with the
    never-learn categories replaced by placeholders; ``user`` is what was typed, kept only when the
    user chose to keep raw text (else it equals ``learned``)."""

    user: str
    learned: str
    reply: str

    def to_bytes(self) -> bytes:
        return json.dumps({"v": FORMAT, "user": self.user, "learned": self.learned, "reply": self.reply},
                          ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Episode:
        data = _load(payload, EPISODE)
        fields = (data.get("user"), data.get("learned"), data.get("reply"))
        if not all(isinstance(f, str) for f in fields):
            raise CorruptRecord("an episode record lacks its text")
        return cls(*fields)

    @property
    def messages(self) -> list[dict[str, str]]:
        """The exchange as the model learns it."""
        return [{"role": "user", "content": self.learned}, {"role": "assistant", "content": self.reply}]


@dataclass(frozen=True)
class Sleep:
    """A consolidation at this point of the log, with the seed that makes its replay exact; a deep
    one retrained the deep level on everything held, a light one the light level (runtime/sleep.py)."""

    seed: int
    deep: bool = False

    def to_bytes(self) -> bytes:
        return json.dumps({"v": FORMAT, "seed": self.seed, "deep": self.deep}).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Sleep:
        data = _load(payload, SLEEP)
        seed, deep = data.get("seed"), data.get("deep", False)
        if not isinstance(seed, int) or isinstance(seed, bool) or not isinstance(deep, bool):
            raise CorruptRecord("a sleep record lacks its seed")
        return cls(seed, deep)


@dataclass(frozen=True)
class Entry:
    """A record's place in the log, from its metadata alone (nothing decrypted but the meta)."""

    id: str
    kind: str
    seq: int
    order: int
    created: datetime
    meta: dict[str, Any]

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(self.meta.get("flags", ()))

    @property
    def deep(self) -> bool:
        """A deep sleep (meta says so, beside the record's own copy)."""
        return bool(self.meta.get("deep", False))

    @property
    def redacted(self) -> bool:
        return "in_place_of" in self.meta


def _said(record) -> datetime:
    """When it was said: a redacted episode keeps its original's time (retention counts from it)."""
    said = record.meta.get("said")
    return datetime.fromisoformat(said) if isinstance(said, str) else record.created


def entries(records) -> list[Entry]:
    """Log entries (episodes and sleeps) in replay order, from ``Store.list()`` output."""
    out = [Entry(r.id, r.kind, r.seq, int(r.meta.get("in_place_of", r.seq)), _said(r), dict(r.meta))
           for r in records if r.kind in (EPISODE, SLEEP)]
    return sorted(out, key=lambda e: (e.order, e.seq))
