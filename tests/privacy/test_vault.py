"""Vault: create, unlock, wrong passphrase, change passphrase, KDF cost, locations, OS keyring."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from privacy import KeyringUnavailable, StoreExists, StoreNotFound, Tampered, Vault, WrongPassphrase, _files
from tests.privacy.helpers import OTHER_PASSPHRASE, PASSPHRASE, snapshot, sql


def _edit_header(directory: Path, **changes: object) -> None:
    path = directory / "vault.json"
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if key in doc["kdf"]:
            doc["kdf"][key] = value
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))


def test_created_store_unlocks_with_its_passphrase(tmp_path: Path) -> None:
    Vault.create(tmp_path / "s", PASSPHRASE, user="ana")
    vault = Vault.unlock(tmp_path / "s", PASSPHRASE)
    assert (vault.user, vault.kdf_cost) == ("ana", 1)
    with vault.open_store() as store:
        assert store.get(store.append("episode", b"hi")) == b"hi"


def test_wrong_passphrase_is_refused_and_changes_no_file(store_dir: Path) -> None:
    before = snapshot(store_dir)
    with pytest.raises(WrongPassphrase):
        Vault.unlock(store_dir, "not the passphrase")
    assert snapshot(store_dir) == before


def test_wrong_passphrase_message_says_what_to_do_and_holds_no_secret(store_dir: Path) -> None:
    with pytest.raises(WrongPassphrase) as caught:
        Vault.unlock(store_dir, "hunter2-guess")
    assert "hunter2" not in str(caught.value) and "try again" in str(caught.value).lower()


def test_unlock_reports_progress(store_dir: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    Vault.unlock(store_dir, PASSPHRASE, on_progress=lambda *step: seen.append(step))
    assert seen == [("derive key", 0, 1), ("derive key", 1, 1)]


def test_unlock_of_missing_store_raises_store_not_found(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        Vault.unlock(tmp_path / "nothing", PASSPHRASE)


def test_create_refuses_an_existing_store(store_dir: Path) -> None:
    before = snapshot(store_dir)
    with pytest.raises(StoreExists):
        Vault.create(store_dir, PASSPHRASE)
    assert snapshot(store_dir) == before


def test_create_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        Vault.create(tmp_path, PASSPHRASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_create_into_an_existing_empty_folder_works(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    Vault.create(tmp_path / "empty", PASSPHRASE)
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["store.db", "vault.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # no staging folder left behind


@pytest.mark.parametrize("passphrase,error", [("", ValueError), (b"bytes", TypeError), (None, TypeError)])
def test_bad_passphrase_arguments_are_caller_errors(tmp_path: Path, passphrase: object, error: type) -> None:
    with pytest.raises(error):
        Vault.create(tmp_path / "s", passphrase)  # type: ignore[arg-type]


@pytest.mark.parametrize("user", ["", "../escape", ".hidden", "a b", "x" * 65])
def test_unsafe_user_names_are_refused(user: str) -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        Vault.create(None, PASSPHRASE, user=user)


def test_store_files_are_private(store_dir: Path) -> None:
    with Vault.unlock_from_keyring(store_dir).open_store() as store:
        store.append("episode", b"x")
    assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700
    for path in store_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_default_location_follows_hope_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path / "data"))
    vault = Vault.create(None, PASSPHRASE, user="ana")
    assert vault.path == tmp_path / "data" / "users" / "ana"
    assert Vault.unlock(None, PASSPHRASE, user="ana").path == vault.path


def test_default_location_without_override_is_the_platform_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPE_DATA_DIR", raising=False)
    monkeypatch.setattr(_files.platformdirs, "user_data_dir", lambda app, appauthor: f"/platform/{app}")
    assert _files.store_dir(None, "ana") == Path("/platform/hope/users/ana")


def test_unlock_with_a_different_user_than_the_store_is_refused(store_dir: Path) -> None:
    with pytest.raises(ValueError, match="different user"):
        Vault.unlock(store_dir, PASSPHRASE, user="bob")


def test_header_asking_for_less_than_the_kdf_floor_is_refused(store_dir: Path) -> None:
    _edit_header(store_dir, memory_kib=32 * 1024)
    with pytest.raises(Tampered):
        Vault.unlock(store_dir, PASSPHRASE)


def test_edited_kdf_parameters_fail_like_a_wrong_passphrase(store_dir: Path) -> None:
    _edit_header(store_dir, iterations=4)  # above the floor, but not what the key was wrapped with
    with pytest.raises(WrongPassphrase):
        Vault.unlock(store_dir, PASSPHRASE)


def test_unreadable_header_is_tampered(store_dir: Path) -> None:
    (store_dir / "vault.json").write_text("{not json")
    with pytest.raises(Tampered):
        Vault.unlock(store_dir, PASSPHRASE)


def test_change_passphrase_rewraps_without_reencrypting_records(vault: Vault, store_dir: Path) -> None:
    with vault.open_store() as store:
        rid = store.append("episode", b"kept as is", meta={"n": 1})
    blobs = sql(store_dir, "SELECT id, meta, payload FROM records ORDER BY seq")
    keys = sql(store_dir, "SELECT id, wrapped FROM keys ORDER BY id")
    vault.change_passphrase(PASSPHRASE, OTHER_PASSPHRASE)
    assert sql(store_dir, "SELECT id, meta, payload FROM records ORDER BY seq") == blobs
    assert sql(store_dir, "SELECT id, wrapped FROM keys ORDER BY id") == keys
    with pytest.raises(WrongPassphrase):
        Vault.unlock(store_dir, PASSPHRASE)
    with Vault.unlock(store_dir, OTHER_PASSPHRASE).open_store() as store:
        assert store.get(rid) == b"kept as is"
        assert [e.action for e in store.audit.entries()][-1] == "change-passphrase"


def test_change_passphrase_with_wrong_old_passphrase_changes_no_file(vault: Vault, store_dir: Path) -> None:
    before = snapshot(store_dir)
    with pytest.raises(WrongPassphrase):
        vault.change_passphrase("wrong", OTHER_PASSPHRASE)
    assert snapshot(store_dir) == before


def test_change_passphrase_while_the_store_is_open_uses_that_handle(vault: Vault, store_dir: Path) -> None:
    with vault.open_store() as store:
        vault.change_passphrase(PASSPHRASE, OTHER_PASSPHRASE)
        assert store.audit.verify()
    assert Vault.unlock(store_dir, OTHER_PASSPHRASE).user == "ana"


def test_kdf_cost_can_be_raised_later(vault: Vault, store_dir: Path) -> None:
    vault.change_passphrase(PASSPHRASE, PASSPHRASE, kdf_cost=2)
    assert json.loads((store_dir / "vault.json").read_text())["kdf"]["memory_kib"] == 128 * 1024
    assert Vault.unlock(store_dir, PASSPHRASE).kdf_cost == 2


def test_keyring_opt_in_unlocks_without_the_passphrase(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "s", PASSPHRASE)
    with pytest.raises(KeyringUnavailable, match="no key saved"):
        Vault.unlock_from_keyring(tmp_path / "s")
    vault.remember_in_keyring()
    with Vault.unlock_from_keyring(tmp_path / "s").open_store() as store:
        assert store.audit.verify()
    vault.forget_keyring()
    with pytest.raises(KeyringUnavailable):
        Vault.unlock_from_keyring(tmp_path / "s")


def test_keyring_entry_survives_a_passphrase_change(vault: Vault, store_dir: Path) -> None:
    vault.change_passphrase(PASSPHRASE, OTHER_PASSPHRASE)
    assert Vault.unlock_from_keyring(store_dir).user == "ana"


def test_keyring_key_that_does_not_open_the_store_is_refused(store_dir: Path, memory_keyring) -> None:
    header = json.loads((store_dir / "vault.json").read_text())
    name = f"{header['user']}/{header['store_id']}"
    saved = memory_keyring.items[("hope", name)]
    memory_keyring.items[("hope", name)] = "AAAA" + saved[4:]
    try:
        with pytest.raises(KeyringUnavailable, match="does not open"):
            Vault.unlock_from_keyring(store_dir)
    finally:
        memory_keyring.items[("hope", name)] = saved


def test_without_a_keyring_backend_the_passphrase_path_still_works(store_dir: Path) -> None:
    keyring.set_keyring(fail.Keyring())  # what headless Linux has
    vault = Vault.unlock(store_dir, PASSPHRASE)
    with pytest.raises(KeyringUnavailable):
        vault.remember_in_keyring()
    with pytest.raises(KeyringUnavailable):
        Vault.unlock_from_keyring(store_dir)
    vault.forget_keyring()  # nothing to forget, and no backend: still not an error


CORE_LIMIT_AFTER = textwrap.dedent("""
    import resource, sys
    from privacy import Vault
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        print("skip")
        sys.exit()
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    getattr(Vault, sys.argv[2])(sys.argv[1], "correct horse battery")
    print(resource.getrlimit(resource.RLIMIT_CORE))
""")


@pytest.mark.parametrize("how", ["create", "unlock"])
def test_core_dumps_are_off_once_a_store_is_unlocked(tmp_path, how):
    """A core file of an unlocked process would hold the vault key and decrypted records
    (docs/SECURITY.md). Checked in a child: the limit stays off for the rest of the process."""
    folder = tmp_path / "s"
    if how == "unlock":
        Vault.create(folder, "correct horse battery")
    done = subprocess.run([sys.executable, "-c", CORE_LIMIT_AFTER, str(folder), how], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "skip":
        pytest.skip("core dumps are already off for this user (hard limit 0)")
    assert done.stdout.strip() == "(0, 0)"


def test_unlocking_asks_the_os_for_no_core_dumps(tmp_path, monkeypatch):
    """The same rule where the test machine already forbids core dumps: the limit asked for is 0/0."""
    import resource

    Vault.create(tmp_path / "s", PASSPHRASE)
    asked = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: asked.append((which, limits)))
    Vault.unlock(tmp_path / "s", PASSPHRASE)
    assert (resource.RLIMIT_CORE, (0, 0)) in asked
