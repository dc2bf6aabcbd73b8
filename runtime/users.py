"""Users on this machine: each is one encrypted store under <data root>/users/<name>.

The passphrase comes from the person (a prompt), or for scripts from $HOPE_PASSPHRASE or a file
descriptor; it is never logged, stored or put in an error message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from privacy import StoreExists, StoreNotFound, Vault
from privacy._files import VAULT_FILE, check_user, data_root
from runtime import HopeError

PASSPHRASE_ENV = "HOPE_PASSPHRASE"
MIN_PASSPHRASE = 8
VaultProgress = Callable[[str, int, int], None]


def users_dir(root: Path | None = None) -> Path:
    return (Path(root) if root is not None else data_root()) / "users"


def list_users(root: Path | None = None) -> list[str]:
    """Names of the users with a store here, sorted."""
    folder = users_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / VAULT_FILE).is_file())


def _check_name(name: str) -> str:
    try:
        return check_user(name)
    except (TypeError, ValueError):
        raise HopeError(f"{name!r} is not a usable user name: use letters, digits, '.', '_' or '-' "
                        "(up to 64, starting with a letter or digit)") from None


def check_new_user(name: str, *, root: Path | None = None) -> None:
    """Refuse, before anything is asked or derived, a name that can't be used or is taken."""
    if (users_dir(root) / _check_name(name) / VAULT_FILE).exists():
        raise HopeError(f"user {name!r} already exists in {users_dir(root).parent}; unlock it instead")


def create_user(name: str, passphrase: str, *, root: Path | None = None,
                on_progress: VaultProgress | None = None) -> Vault:
    if len(passphrase) < MIN_PASSPHRASE:
        raise HopeError(f"choose a passphrase of at least {MIN_PASSPHRASE} characters")
    try:
        return Vault.create(users_dir(root) / _check_name(name), passphrase, user=name, on_progress=on_progress)
    except StoreExists:
        raise HopeError(f"user {name!r} already exists; unlock it instead") from None


def unlock(name: str, passphrase: str, *, root: Path | None = None,
           on_progress: VaultProgress | None = None) -> Vault:
    """`privacy.WrongPassphrase` propagates (callers offer another try); a missing user is a HopeError."""
    try:
        return Vault.unlock(users_dir(root) / _check_name(name), passphrase, user=name, on_progress=on_progress)
    except StoreNotFound:
        raise HopeError(f"there is no user {name!r} in {users_dir(root).parent}; create one with `hope init`, "
                        "or point --data-dir (or $HOPE_DATA_DIR) at the folder that holds it") from None


def passphrase_from(fd: int | None) -> str | None:
    """The passphrase a script provides: the first line read from file descriptor ``fd``, else
    $HOPE_PASSPHRASE; None when neither is given (then the person is asked)."""
    if fd is not None:
        with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as stream:
            line = stream.readline().rstrip("\r\n")
        if not line:
            raise HopeError(f"no passphrase could be read from file descriptor {fd}")
        return line
    return os.environ.get(PASSPHRASE_ENV) or None
