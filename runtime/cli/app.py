"""`hope app`: the terminal app (Textual, imported only when this command runs)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer

from runtime.cli.session import ACCEPT_OLDER_STORE, DataDirOpt, ModelOpt, PassFdOpt, UserOpt, data_root
from runtime.users import passphrase_from


def app_command(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                model: ModelOpt = None) -> None:
    """Open the app: chat that learns, your memories one key away (f2), sleep (f3), audit (f5).

    The app asks for the passphrase unless $HOPE_PASSPHRASE or --passphrase-fd gives it.

    Examples: `hope app`, `hope app --user ana`, `hope app --data-dir /tmp/hope --model ~/models/qwen`
    """
    from runtime.brain import Brain
    from runtime.tui.app import HopeApp  # deferred: the rest of the CLI never loads Textual

    factory = Brain.default if model is None else partial(Brain.from_folder, Path(model).expanduser())
    app = HopeApp(root=data_root(data_dir), brain_factory=factory, user=user,
                  passphrase=passphrase_from(passphrase_fd), accept_older_store=ACCEPT_OLDER_STORE["on"])
    app.run()
    if app.return_code:  # the app stopped on a failure: one line, after the terminal is restored
        typer.echo(app.error_line or "Error: the app stopped on a failure.", err=True)
        raise typer.Exit(app.return_code)
