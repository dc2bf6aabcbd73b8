"""Where stores live on disk, the per-store write lock, and private (0600) atomic file writes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import logging
import os
import re
from pathlib import Path

import platformdirs

from privacy.errors import StoreLocked

log = logging.getLogger(__name__)

DATA_DIR_ENV = "HOPE_DATA_DIR"
VAULT_FILE = "vault.json"
DB_FILE = "store.db"
LOCK_FILE = "store.lock"

_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_user(user: str) -> str:
    """User names become folder names and associated data, so only a safe alphabet is accepted."""
    if not isinstance(user, str):
        raise TypeError(f"user must be a str, got {type(user).__name__}")
    if not _USER_RE.fullmatch(user):
        raise ValueError(
            f"user {user!r} is not a valid name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return user


def data_root() -> Path:
    """$HOPE_DATA_DIR if set, else the platform's per-user data directory for 'hope'."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("hope", appauthor=False))


def store_dir(path: str | os.PathLike[str] | None, user: str) -> Path:
    """An explicit path is the store folder itself; without one, <data root>/users/<user>."""
    if path is None:
        return data_root() / "users" / check_user(user)
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str, PathLike or None, got {type(path).__name__}")
    return Path(path).expanduser()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temporary files an earlier `write_private` of ``path`` left when its process died
    (an export's is plaintext). Writers of one path never overlap: vault.json is written under the
    store lock, and an export of a file that is being written makes no sense. Returns what went."""
    stale = [p for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp")
             if p.name[len(path.name) + 2:-4].isdigit()]
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    if stale:
        log.info("removed %d temporary files left by an interrupted write", len(stale))
    return stale


def write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write `data` to `path` with mode 0600, atomically: readers see the old file or the new one.

    With replace=False an existing file is never overwritten (FileExistsError), which is what an
    export wants; the vault header uses replace=True so a passphrase change is all-or-nothing.
    """
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError instead of clobbering
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def disable_core_dumps() -> None:
    """Set this process's core-file limit to 0 (soft and hard), so a crash while keys and decrypted
    records are in memory writes no core file. Not undone: Python cannot wipe what was in memory,
    so it stays in force for the rest of the process. A no-op where `resource` does not exist."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return
    if resource.getrlimit(resource.RLIMIT_CORE) != (0, 0):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        log.debug("core dumps disabled for this process")


class StoreLock:
    """An exclusive flock on <store>/store.lock, holding the owner's pid for the error message.

    flock locks belong to the open file, so the kernel drops them when the holder dies (kill -9
    included): there are no stale locks to clean up, and a second open in the same process is
    refused just like one from another process.
    """

    def __init__(self, directory: Path) -> None:
        self._path = directory / LOCK_FILE
        self._fd: int | None = None

    @property
    def is_held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        assert self._fd is None, "lock acquired twice"
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLocked(self._holder()) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        log.debug("store lock taken by pid %d", os.getpid())

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _holder(self) -> int | None:
        try:
            text = self._path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
