"""Fixtures for privacy/: one store is derived per session (Argon2id at the floor) and copied per test.

Tests unlock the copies through the OS-keyring path with an in-memory backend, so the key
derivation runs once per session instead of once per test; tests of the passphrase path derive.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from privacy import Store, Vault
from tests.privacy.helpers import OTHER_PASSPHRASE, PASSPHRASE


class MemoryKeyring(KeyringBackend):
    """A keyring backend in a dict: headless Linux has none, tests need one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture(scope="session")
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _keyring_in_memory(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    """Every privacy test sees the in-memory keyring (and never the machine's real one)."""
    keyring.set_keyring(memory_keyring)
    return memory_keyring


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real per-user data folder."""
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path / "hope-data"))


def _template(tmp_path_factory: pytest.TempPathFactory, user: str, passphrase: str) -> Path:
    path = tmp_path_factory.mktemp(f"template-{user}") / "store"
    Vault.create(path, passphrase, user=user).remember_in_keyring()
    return path


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory, memory_keyring: MemoryKeyring) -> Path:
    return _template(tmp_path_factory, "ana", PASSPHRASE)


@pytest.fixture(scope="session")
def other_template_dir(tmp_path_factory: pytest.TempPathFactory, memory_keyring: MemoryKeyring) -> Path:
    return _template(tmp_path_factory, "bob", OTHER_PASSPHRASE)


@pytest.fixture
def store_dir(template_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of the session's store (user 'ana', passphrase PASSPHRASE)."""
    return Path(shutil.copytree(template_dir, tmp_path / "ana"))


@pytest.fixture
def other_store_dir(other_template_dir: Path, tmp_path: Path) -> Path:
    """A second user's store (user 'bob', passphrase OTHER_PASSPHRASE)."""
    return Path(shutil.copytree(other_template_dir, tmp_path / "bob"))


@pytest.fixture
def vault(store_dir: Path) -> Vault:
    return Vault.unlock_from_keyring(store_dir)


@pytest.fixture
def store(vault: Vault) -> Iterator[Store]:
    with vault.open_store() as opened:
        yield opened


@pytest.fixture(scope="module")
def shared_store(template_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per module, for property tests that append many examples."""
    path = Path(shutil.copytree(template_dir, tmp_path_factory.mktemp("shared") / "store"))
    with Vault.unlock_from_keyring(path).open_store() as opened:
        yield opened
