"""Export to a readable JSON bundle (mode 0600) and import into a new store."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from privacy import Store, Vault
from tests.privacy.helpers import PASSPHRASE


def _fill(store: Store) -> list[str]:
    ids = store.append_many(
        [
            ("episode", "I moved to Lisbon — café every morning".encode(), {"lang": "en", "tags": ["move"]}),
            ("note", b"\x00\xff\xfe binary \x80", None),
        ]
    )
    store.set_setting("never-learn", ["email", "phone"])
    return list(ids)


def test_export_then_import_into_a_new_store_round_trips(store: Store, other_store_dir: Path, tmp_path: Path) -> None:
    ids = _fill(store)
    assert store.export_json(tmp_path / "bundle.json") == 2
    with Vault.unlock_from_keyring(other_store_dir).open_store() as target:
        assert target.import_json(tmp_path / "bundle.json") == 2
        assert [(r.id, r.kind, r.meta, r.created) for r in target.list()] == [
            (r.id, r.kind, r.meta, r.created) for r in store.list()
        ]
        assert [target.get(rid) for rid in ids] == [store.get(rid) for rid in ids]
        assert target.settings() == {"never-learn": ["email", "phone"]}
        assert [e.action for e in target.audit.entries()][-2:] == ["import", "settings"]
        assert target.audit.verify()


def test_export_is_readable_json_with_text_or_base64_payloads(store: Store, tmp_path: Path) -> None:
    _fill(store)
    store.export_json(tmp_path / "bundle.json")
    doc = json.loads((tmp_path / "bundle.json").read_text(encoding="utf-8"))
    assert doc["format"] == "hope-export" and doc["user"] == "ana"
    text, binary = doc["records"]
    assert text["text"] == "I moved to Lisbon — café every morning" and "base64" not in text
    assert binary["base64"] == "AP/+IGJpbmFyeSCA" and "text" not in binary


def test_export_file_is_private(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    store.export_json(out / "bundle.json")
    assert stat.S_IMODE((out / "bundle.json").stat().st_mode) == 0o600
    assert [p.name for p in out.iterdir()] == ["bundle.json"]  # no temporary file left


def test_export_refuses_to_overwrite_a_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "bundle.json").write_text("keep me")
    with pytest.raises(FileExistsError):
        store.export_json(tmp_path / "bundle.json")
    assert (tmp_path / "bundle.json").read_text() == "keep me"


def test_export_is_audited_with_ids_only(store: Store, tmp_path: Path) -> None:
    ids = _fill(store)
    store.export_json(tmp_path / "bundle.json")
    last = store.audit.entries()[-1]
    assert (last.action, last.ids, last.hashes) == ("export", tuple(ids), ())


def test_import_refuses_a_store_that_is_not_empty(store: Store, other_store_dir: Path, tmp_path: Path) -> None:
    _fill(store)
    store.export_json(tmp_path / "bundle.json")
    with Vault.unlock_from_keyring(other_store_dir).open_store() as target:
        kept = target.append("episode", b"already here")
        with pytest.raises(ValueError, match="empty store"):
            target.import_json(tmp_path / "bundle.json")
        assert [r.id for r in target.list()] == [kept]


@pytest.mark.parametrize(
    "edit,problem",
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d["records"][0].update(id="short"), "malformed id"),
        (lambda d: d["records"][0].pop("text"), "exactly one"),
        (lambda d: d["records"][1].update(base64="***"), "invalid base64"),
        (lambda d: d["records"][0].update(created="yesterday"), "unreadable time"),
        (lambda d: d["records"][0].update(meta=[]), "'meta'"),
        (lambda d: d["records"].append(dict(d["records"][0])), "repeat"),
    ],
    ids=["format", "version", "id", "payload-field", "base64", "time", "meta", "duplicate"],
)
def test_import_names_the_first_problem_of_a_malformed_bundle(
    store: Store, other_store_dir: Path, tmp_path: Path, edit, problem: str
) -> None:
    _fill(store)
    store.export_json(tmp_path / "bundle.json")
    doc = json.loads((tmp_path / "bundle.json").read_text())
    edit(doc)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with Vault.unlock_from_keyring(other_store_dir).open_store() as target:
        with pytest.raises(ValueError, match=problem) as caught:
            target.import_json(tmp_path / "bad.json")
        assert "Lisbon" not in str(caught.value)
        assert target.list() == ()


EXPORT_KILLED_MID_WRITE = """
import os, signal, sys
from privacy import Vault
with Vault.unlock(sys.argv[1], sys.argv[2]).open_store() as store:
    store.append("episode", b"TOLD-IN-CONFIDENCE")
    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # the bundle is written, not yet linked
    store.export_json(sys.argv[3])
"""


def test_a_crashed_exports_plaintext_temp_file_is_removed_by_the_next_export(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", EXPORT_KILLED_MID_WRITE, str(store_dir), PASSPHRASE,
                           str(out / "bundle.json")], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr
    (left,) = out.iterdir()  # what the crash left: a hidden plaintext temp file
    assert left.name.startswith(".bundle.json.") and b"TOLD-IN-CONFIDENCE" in left.read_bytes()
    with Vault.unlock(store_dir, PASSPHRASE).open_store() as store:
        store.export_json(out / "bundle.json")
    assert [p.name for p in out.iterdir()] == ["bundle.json"]


def test_opening_a_store_removes_a_half_written_vault_header(store_dir: Path) -> None:
    stale = store_dir / ".vault.json.99999.tmp"
    stale.write_bytes(b"{}")
    unrelated = store_dir / ".vault.json.notes.tmp"
    unrelated.write_bytes(b"not ours")
    with Vault.unlock(store_dir, PASSPHRASE).open_store():
        pass
    assert not stale.exists() and unrelated.exists()
