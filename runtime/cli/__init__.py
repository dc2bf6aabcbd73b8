"""`hope`: the command-line face of the runtime. This module registers the verbs and owns the entry
point and the rule that a known failure is one line on stderr and exit status 1."""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import typer
from typer.core import TyperOption

from runtime.cli.app import app_command
from runtime.cli.chat import ask, chat
from runtime.cli.manage import audit_app, bench, init, settings_app, sleep, status_command
from runtime.cli.memories import memories_app
from runtime.cli.model import model_app
from runtime.cli.session import ACCEPT_OLDER_STORE
from runtime.failure import debugging, one_line


def _flag_type(option: TyperOption, ctx) -> str | None:
    """A flag takes no value, so its help shows no type (typer would print `<bool>` beside it)."""
    return None if option.is_flag else _value_type(option, ctx)


_value_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type

app = typer.Typer(
    name="hope",
    help="A private assistant that learns: local Hope models that learn, sleep and forget on demand.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold passphrases and stored text; main() prints one line anyway
)
app.command("init")(init)
app.command("chat")(chat)
app.command("app")(app_command)
app.command("ask")(ask)
app.add_typer(memories_app, name="memories")
app.command("sleep")(sleep)
app.add_typer(audit_app, name="audit")
app.command("status")(status_command)
app.add_typer(settings_app, name="settings")
app.add_typer(model_app, name="model")
app.command("bench")(bench)


def _version() -> str:
    try:
        return version("personal-nl")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hope {_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the version and exit."),
    accept_older_store: bool = typer.Option(
        False, "--accept-older-store", help="Open a store older than the newest this machine has seen (a backup "
        "restored on purpose): recorded in the audit, and what was forgotten since is shredded again."),
) -> None:
    """A private assistant that learns: local Hope models that learn, sleep and forget on demand."""
    ACCEPT_OLDER_STORE["on"] = accept_older_store


@app.command("version")
def version_command() -> None:
    """Print the installed version, Python and torch versions, and where kernels will run."""
    import torch

    from kernels.dispatch import choose_face

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    typer.echo(f"hope {_version()}")
    typer.echo(f"python {sys.version.split()[0]}, torch {torch.__version__}")
    typer.echo(f"kernels: {choose_face(None, device)} face on {device.type}")


def _quiet_logging() -> None:
    """Library warnings (e.g. the store's failed integrity check) would reach stderr through logging's
    last-resort handler ahead of the `Error:` line that already says it; $HOPE_DEBUG=1 shows them."""
    if debugging():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def main() -> None:
    """Console entry point: any failure becomes one line on stderr and exit 1: a known one (HopeError,
    or the store's: wrong passphrase, tampered, locked) by its message, anything else by its type
    (runtime.failure); $HOPE_DEBUG=1 re-raises."""
    # Idle OpenMP threads sleep instead of spinning (set before torch loads): an assistant shares the
    # machine, and spinning threads made learning steps ~6x slower on a busy 2-core box.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _quiet_logging()
    try:
        app()
    except Exception as err:
        if debugging():
            raise
        typer.echo(one_line(err), err=True)
        raise SystemExit(1) from None
