"""Rollback detection with no server: the newest audit head this machine has seen of a store, kept
outside the store folder, so that putting back an older copy of the whole folder (which would bring
forgotten records back) is noticed on the next open.

The note is a small file per store in the user's config folder ($HOPE_CONFIG_DIR, else the
platform's): the audit count and last hash, the ids of every record shredded so far, and an HMAC
under a key derived from the vault key, so only someone who can unlock the store can forge it.
Deleting the note (or the config folder) turns the check off until the store is next opened: that
limit is stated in docs/SECURITY.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from privacy import _crypto
from privacy._files import write_private
from privacy.errors import Tampered

CONFIG_DIR_ENV = "HOPE_CONFIG_DIR"


def config_root() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("hope", appauthor=False))


@dataclass(frozen=True)
class Head:
    """How far a store's audit chain had come, and what it had shredded by then."""

    count: int
    hash: str
    shredded: frozenset[str]

    def _message(self, store_id: str) -> bytes:
        return json.dumps(["hope-rollback-head", store_id, self.count, self.hash, sorted(self.shredded)]).encode()


def _path(store_id: str) -> Path:
    return config_root() / "heads" / f"{store_id}.json"


def remembered(store_id: str, mac_key: bytes) -> Head | None:
    """The head last remembered for this store; None when there is none; `Tampered` for a note
    that does not authenticate (edited, or written for another store)."""
    try:
        doc = json.loads(_path(store_id).read_bytes())
        head = Head(int(doc["count"]), str(doc["hash"]), frozenset(str(i) for i in doc["shredded"]))
        tag = doc["tag"]
    except FileNotFoundError:
        return None
    except (OSError, KeyError, TypeError, ValueError):
        raise Tampered() from None
    if not _crypto.mac_matches(mac_key, head._message(store_id), tag):
        raise Tampered()
    return head


def remember(store_id: str, mac_key: bytes, head: Head) -> None:
    path = _path(store_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"count": head.count, "hash": head.hash, "shredded": sorted(head.shredded),
           "tag": _crypto.mac(mac_key, head._message(store_id))}
    write_private(path, json.dumps(doc).encode() + b"\n", replace=True)
