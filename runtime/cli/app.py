"""`hope app`: the terminal app (Textual, imported only when this command runs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from runtime.cli.session import (
    ACCEPT_OLDER_STORE,
    ContextOpt,
    DataDirOpt,
    ModelOpt,
    PassFdOpt,
    PrecisionOpt,
    UserOpt,
    data_root,
    with_context,
)
from runtime.users import passphrase_from

if TYPE_CHECKING:
    from runtime.brain import Brain


def app_command(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                model: ModelOpt = None, context: ContextOpt = None, precision: PrecisionOpt = None) -> None:
    """Open the app: chat that learns, your memories one key away (f2), sleep (f3), audit (f5).

    The app asks for the passphrase unless $HOPE_PASSPHRASE or --passphrase-fd gives it.

    Examples: `hope app`, `hope app --user ana`, `hope app --data-dir /tmp/hope --model ~/models/qwen`
    """
    from runtime.brain import Brain
    from runtime.tui.app import HopeApp  # deferred: the rest of the CLI never loads Textual

    load = Brain.default if model is None else partial(Brain.from_folder, Path(model).expanduser())
    factory = load if context is None else (lambda: with_context(load(), context))
    app = HopeApp(root=data_root(data_dir), brain_factory=partial(_ready, factory, precision), user=user,
                  passphrase=passphrase_from(passphrase_fd), precision=precision,
                  accept_older_store=ACCEPT_OLDER_STORE["on"])
    app.run()
    if app.return_code:  # the app stopped on a failure: one line, after the terminal is restored
        typer.echo(app.error_line or "Error: the app stopped on a failure.", err=True)
        raise typer.Exit(app.return_code)


def _ready(load: Callable[[], Brain], precision: str | None) -> Brain:
    """The model, with its decoder exported and loaded while the person types the passphrase (the
    first start exports the default model's graph, ~20 s); the user's own precision setting, when
    it differs, is prepared after unlocking."""
    from runtime.decoding import Decoding
    from runtime.settings import PRECISIONS

    brain = load()
    Decoding(brain, precision or PRECISIONS[0]).prepare()
    return brain
