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
from runtime.settings import PRECISIONS

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
PrecisionOpt = Annotated[str | None, typer.Option(
    "--precision", help=f"Decode with these weights: {', '.join(PRECISIONS)} (default: the `precision` setting, "
                        f"{PRECISIONS[0]}; `hope model info` shows how often each agrees with fp32).")]
ContextOpt = Annotated[int | None, typer.Option(
    "--context", help="Tokens of conversation the model reads, reply included (default 2048, at most the "
    "model's own limit): more fits longer messages, and each reply takes longer.")]


ACCEPT_OLDER_STORE = {"on": False}  # `hope --accept-older-store VERB`: open a restored backup once


def data_root(data_dir: Path | None) -> Path | None:
    return data_dir.expanduser() if data_dir is not None else None


def choose_user(user: str | None, data_dir: Path | None) -> str:
    from runtime.users import list_users, users_dir

    if user is not None:
        return user
    users = list_users(data_root(data_dir))
    if not users:
        raise HopeError(f"there is no user in {users_dir(data_root(data_dir)).parent}; create one with "
                        "`hope init`, or point --data-dir (or $HOPE_DATA_DIR) at the folder that holds yours")
    if len(users) > 1:
        raise HopeError(f"there are several users ({', '.join(users)}); choose one with --user")
    return users[0]


def passphrase(fd: int | None, *, confirm: bool = False) -> str:
    """From --passphrase-fd or $HOPE_PASSPHRASE, else asked on the terminal. When creating
    (``confirm``) a too-short one is asked again at once, and then it is asked a second time."""
    from runtime.users import MIN_PASSPHRASE, passphrase_from

    given = passphrase_from(fd)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise HopeError("no passphrase: stdin is not a terminal, so set $HOPE_PASSPHRASE or use --passphrase-fd")
    first = getpass.getpass("Passphrase: ")
    while confirm and len(first) < MIN_PASSPHRASE:
        typer.echo(f"That is {len(first)} characters; choose at least {MIN_PASSPHRASE}.", err=True)
        first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise HopeError("the passphrases differ; nothing was created")
    return first


def load_brain(model: Path | None, context: int | None = None) -> Brain:
    from runtime.brain import Brain

    with status("loading the model"):
        brain = Brain.from_folder(model) if model is not None else Brain.default()
    return brain if context is None else with_context(brain, context)


def with_context(brain: Brain, tokens: int) -> Brain:
    """The brain reading ``tokens`` of conversation (--context), within what the model can read."""
    import dataclasses

    low, high = brain.max_new_tokens + 64, brain.model.cfg.max_seq_len
    if not low <= tokens <= high:
        raise HopeError(f"--context {tokens} is out of range: {brain.name} reads between {low} and {high} tokens")
    return dataclasses.replace(brain, context_tokens=tokens)


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
def progress_bar(label: str = "working") -> Iterator[Callable | None]:
    """One line on stderr naming the stage the job is in (re-learning 3/7, measuring…), with a bar
    when the stage has a count, shown from the first moment; erased when done, so what the command
    prints next starts a clean line. None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from runtime.wording import stage

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def show(p) -> None:
            bar.update(task, description=f"{label}: {stage(p)}", completed=p.done, total=p.total or None)

        yield show


@contextmanager
def assistant(user: str | None, data_dir: Path | None, passphrase_fd: int | None, model: Path | None, *,
              sleep_on_close: bool = False, context: int | None = None, precision: str | None = None,
              incognito: bool = False) -> Iterator[Assistant]:
    """The unlocked user's assistant; closed (checkpointed) when the command ends, even on error.
    ``incognito`` (a command's --incognito) can only add to the user's incognito_default, never lift it."""
    from runtime.assistant import Assistant
    from runtime.users import unlock

    name = choose_user(user, data_dir)
    secret = passphrase(passphrase_fd)
    with status("unlocking"):
        vault = unlock(name, secret, root=data_root(data_dir))
    brain = load_brain(model, context)
    with progress_bar("opening your memory") as show, _held_elsewhere():
        opened = Assistant.open(vault, brain, on_progress=show, precision=precision,
                                accept_older_store=ACCEPT_OLDER_STORE["on"])
    opened.incognito = incognito or opened.incognito
    try:
        yield opened
    finally:
        with progress_bar("saving") as show:
            opened.close(sleep=sleep_on_close, on_progress=show)


class StoreInUse(HopeError):
    """The user's store is held by another process (the app, a chat, a sleep)."""


def _holder(pid: int | None) -> str:
    """'process 4242 (hope app)': the command line, when this system shows it."""
    if pid is None:
        return "another process"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words = [Path(w.decode(errors="replace")).name for w in argv if w][:4]
    hope = next((i for i, w in enumerate(words) if w in ("hope", "runtime.cli")), None)
    shown = " ".join(["hope", *words[hope + 1:]] if hope is not None else words)
    return f"process {pid} ({shown})" if shown else f"process {pid}"


@contextmanager
def _held_elsewhere() -> Iterator[None]:
    """The store takes one process at a time: say which holds it and how to close it."""
    from privacy import StoreLocked

    try:
        yield
    except StoreLocked as err:
        raise StoreInUse(f"your store is open in {_holder(err.pid)}. Quit it there (ctrl+q in the app, /bye in "
                        "chat) or wait for it to finish, then try again.") from None
