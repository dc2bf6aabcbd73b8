"""Users on this machine: each is one encrypted store under <data root>/users/<name>.

The passphrase comes from the person (a prompt), or for scripts from $HOPE_PASSPHRASE or a file
descriptor; it is never logged, stored or put in an error message.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

from privacy import StoreExists, StoreNotFound, Vault
from privacy._files import VAULT_FILE, check_user, data_root
from runtime import HopeError
from runtime.text import is_text

PASSPHRASE_ENV = "HOPE_PASSPHRASE"
MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 1024  # characters
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


def checked_passphrase(passphrase: str) -> str:
    """Refuse what no key should be derived from: nothing, bytes that are not UTF-8 (lone
    surrogates), or more than MAX_PASSPHRASE characters (Argon2id takes any length, but a 100 MB
    passphrase cost 525 MB of memory)."""
    if not passphrase:
        raise HopeError("the passphrase is empty")
    if len(passphrase) > MAX_PASSPHRASE:
        raise HopeError(f"the passphrase is longer than {MAX_PASSPHRASE} characters")
    if not is_text(passphrase):
        raise HopeError("the passphrase holds bytes that are not UTF-8 text")
    return passphrase


def create_user(name: str, passphrase: str, *, root: Path | None = None,
                on_progress: VaultProgress | None = None) -> Vault:
    """A new user's store. The minimum length counts characters as the key sees them (NFC: a
    decomposed "é" is one) and without surrounding spaces (eight spaces are not a passphrase)."""
    checked_passphrase(passphrase)
    if len(unicodedata.normalize("NFC", passphrase).strip()) < MIN_PASSPHRASE:
        raise HopeError(f"choose a passphrase of at least {MIN_PASSPHRASE} characters (not counting spaces "
                        "around it)")
    try:
        return Vault.create(users_dir(root) / _check_name(name), passphrase, user=name, on_progress=on_progress)
    except StoreExists:
        raise HopeError(f"user {name!r} already exists; unlock it instead") from None


def unlock(name: str, passphrase: str, *, root: Path | None = None,
           on_progress: VaultProgress | None = None) -> Vault:
    """`privacy.WrongPassphrase` propagates (callers offer another try); a missing user is a HopeError."""
    checked_passphrase(passphrase)
    try:
        return Vault.unlock(users_dir(root) / _check_name(name), passphrase, user=name, on_progress=on_progress)
    except StoreNotFound:
        raise HopeError(f"there is no user {name!r} in {users_dir(root).parent}; create one with `hope init`, "
                        "or point --data-dir (or $HOPE_DATA_DIR) at the folder that holds it") from None
    except ValueError:  # the only one left: vault.json names another user (a folder moved or copied)
        raise HopeError(f"the store in the folder of user {name!r} was made for another user; move the folder "
                        "back under its owner's name") from None


def passphrase_from(fd: int | None) -> str | None:
    """The passphrase a script provides: the first line read from file descriptor ``fd``, else
    $HOPE_PASSPHRASE; None when neither is given (then the person is asked)."""
    if fd is not None:
        try:
            with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as stream:
                line = stream.readline(MAX_PASSPHRASE + 3).rstrip("\r\n")  # read no more than can be used
        except UnicodeDecodeError:
            raise HopeError(f"what file descriptor {fd} holds is not UTF-8 text") from None
        except (OSError, ValueError):
            raise HopeError(f"file descriptor {fd} is not open for reading; open it in the shell, e.g. "
                            f"`--passphrase-fd 3 3<FILE`") from None
        if not line:
            raise HopeError(f"no passphrase could be read from file descriptor {fd}")
        return checked_passphrase(line)
    # A trailing CR or LF is dropped here as on the fd (a file edited on Windows, `$(cat file)` habits).
    given = os.environ.get(PASSPHRASE_ENV, "").rstrip("\r\n")
    return checked_passphrase(given) if given else None
