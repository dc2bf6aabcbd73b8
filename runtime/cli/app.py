"""`hope app`: the terminal app (Textual, imported only when this command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime.users import passphrase_from


def app_command(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Who to unlock (or create, if new).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where users' stores live "
                                                   "(default: $HOPE_DATA_DIR or the platform's data folder).")] = None,
    passphrase_fd: Annotated[int | None, typer.Option("--passphrase-fd", help="Read the passphrase from this file "
                                                      "descriptor (scripts); $HOPE_PASSPHRASE works too.")] = None,
) -> None:
    """Open the app: chat that learns, your memories one key away (f2), sleep (f3), audit (f5).

    Examples: `hope app`, `hope app --user ana`, `HOPE_PASSPHRASE=... hope app --user ana --data-dir /tmp/h`
    """
    from runtime.tui.app import HopeApp  # deferred: the rest of the CLI never loads Textual

    HopeApp(root=data_dir, user=user, passphrase=passphrase_from(passphrase_fd)).run()
