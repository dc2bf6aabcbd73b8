"""Export asks where, and says plainly that the file holds everything decrypted."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ExportScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel", id="export.cancel")]

    def __init__(self, user: str) -> None:
        super().__init__()
        self.default = str(Path("~").expanduser() / f"hope-export-{user}.json")

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="dialog"):
            yield Label("Export everything?", classes="dialog-title")
            yield Static("Every record and setting is written, decrypted, to a new file that only you can read "
                         "(mode 0600). Anyone who gets the file can read your memories.", markup=False)
            yield Input(self.default, id="export-path")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="warning", id="export-yes", compact=True)
                yield Button("Cancel", id="export-no", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        self.dismiss((value or None) if event.button.id == "export-yes" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
