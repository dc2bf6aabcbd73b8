"""What every user-facing verb shares: choosing the user and model, getting the passphrase,
opening the assistant with progress on stderr, and closing it however the command ends."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runtime import HopeError

if TYPE_CHECKING:
    from runtime.assistant import Assistant
    from runtime.brain import Brain

UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="Whose memory (default: the only user).")]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where users and models live (default: $HOPE_DATA_DIR, else the platform's data folder).")]
PassFdOpt = Annotated[int | None, typer.Option(
    "--passphrase-fd", help="Read the passphrase from this file descriptor (for scripts; or set $HOPE_PASSPHRASE).")]
ModelOpt = Annotated[Path | None, typer.Option(
    "--model", help="A model folder made by `hope model import` (default: the bundled SmolLM2-135M-Instruct).")]


ACCEPT_OLDER_STORE = {"on": False}  # `hope --accept-older-store VERB`: open a restored backup once


def data_root(data_dir: Path | None) -> Path | None:
    return data_dir.expanduser() if data_dir is not None else None


def choose_user(user: str | None, data_dir: Path | None) -> str:
    from runtime.users import list_users

    if user is not None:
        return user
    users = list_users(data_root(data_dir))
    if not users:
        raise HopeError("there is no user yet; create one with `hope init`")
    if len(users) > 1:
        raise HopeError(f"there are several users ({', '.join(users)}); choose one with --user")
    return users[0]


def passphrase(fd: int | None, *, confirm: bool = False) -> str:
    """From --passphrase-fd or $HOPE_PASSPHRASE, else asked on the terminal (twice when creating)."""
    from runtime.users import passphrase_from

    given = passphrase_from(fd)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise HopeError("no passphrase: stdin is not a terminal, so set $HOPE_PASSPHRASE or use --passphrase-fd")
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise HopeError("the passphrases differ; nothing was created")
    return first


def load_brain(model: Path | None) -> Brain:
    from runtime.brain import Brain

    with status("loading the model"):
        return Brain.from_folder(model) if model is not None else Brain.default()


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow happens; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextmanager
def progress_bar() -> Iterator[Callable | None]:
    """A rich bar per stage (replaying, dreaming, consolidating) on stderr; None when not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def show(p) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.stage, total=p.total)
            bar.update(tasks[p.stage], completed=p.done, total=p.total)

        yield show


@contextmanager
def assistant(user: str | None, data_dir: Path | None, passphrase_fd: int | None, model: Path | None, *,
              sleep_on_close: bool = False, incognito: bool = False) -> Iterator[Assistant]:
    """The unlocked user's assistant; closed (checkpointed) when the command ends, even on error.
    ``incognito`` (a command's --incognito) can only add to the user's incognito_default, never lift it."""
    from runtime.assistant import Assistant
    from runtime.users import unlock

    name = choose_user(user, data_dir)
    secret = passphrase(passphrase_fd)
    with status("unlocking"):
        vault = unlock(name, secret, root=data_root(data_dir))
    brain = load_brain(model)
    with progress_bar() as show:
        opened = Assistant.open(vault, brain, on_progress=show, accept_older_store=ACCEPT_OLDER_STORE["on"])
    opened.incognito = incognito or opened.incognito
    try:
        yield opened
    finally:
        with progress_bar() as show:
            opened.close(sleep=sleep_on_close, on_progress=show)
