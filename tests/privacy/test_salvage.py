"""A damaged store is not a total loss: salvage exports every record and the settings that still
authenticate, and lists by id what could not be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privacy import Tampered, Vault
from tests.privacy.helpers import sql

PAGE = 4096


@pytest.fixture
def many(store_dir: Path) -> dict[str, bytes]:
    """200 records of about 1 KiB (several pages of them) and a setting."""
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        told = {store.append("episode", f"memory {n:03d} ".encode() * 90): None for n in range(200)}
        store.set_setting("never_learn", ["email"])
        return {rid: store.get(rid) for rid in told}


def test_salvage_returns_every_record_off_the_damaged_pages(store_dir: Path, many, tmp_path: Path) -> None:
    db = store_dir / "store.db"
    data = bytearray(db.read_bytes())
    payloads = dict(sql(store_dir, "SELECT id, payload FROM records"))
    page_of = {rid: data.find(payload) // PAGE for rid, payload in payloads.items()}
    damaged = sorted(set(page_of.values()))[10:13]  # three leaf pages in the middle of the table
    for page in damaged:
        data[page * PAGE + 100:(page + 1) * PAGE - 100] = b"\xa5" * (PAGE - 200)
    db.write_bytes(bytes(data))
    with pytest.raises(Tampered):
        Vault.unlock_from_keyring(store_dir).open_store()
    count, unreadable = Vault.unlock_from_keyring(store_dir).salvage_export(tmp_path / "salvaged.json")
    bundle = json.loads((tmp_path / "salvaged.json").read_text())
    back = {r["id"]: r["text"].encode() for r in bundle["records"]}
    lost = {rid for rid, page in page_of.items() if page in damaged}
    assert 0 < len(lost) < 20 and count == len(back)
    assert {rid: many[rid] for rid in many if rid not in lost} == {rid: back[rid] for rid in back if rid not in lost}
    assert set(back) == set(many) - lost and set(unreadable) == lost  # every undamaged record came back,
    # and each record on a damaged page is named
    assert bundle["settings"] == {"never_learn": ["email"]}
    assert oct((tmp_path / "salvaged.json").stat().st_mode & 0o777) == "0o600"
