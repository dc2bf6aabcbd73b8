"""Long blocking jobs behind a progress dialog, and the receipt that follows a forget."""

from __future__ import annotations

import threading

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

from runtime.assistant import ForgetReceipt
from runtime.sleep import Progress
from runtime.tui import format as fmt
from runtime.tui.messages import WorkProgressed
from runtime.tui.widgets.receipt import ReceiptView


class WorkScreen(ModalScreen[None]):
    """Progress of a job the person waits for (forget, redact, sleeping before closing).
    With ``stop``, esc asks the job to stop at its next safe point."""

    BINDINGS = [Binding("escape", "stop", "skip", id="work.stop")]

    def __init__(self, title: str, *, stop: threading.Event | None = None, note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.stop = stop
        self.note = note  # what the job will do and about how long, said before it starts

    def compose(self) -> ComposeResult:
        with Vertical(id="work-box", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.note:
                yield Static(self.note, id="work-note", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="work-bar")
            yield Label("starting…", id="work-stage")
            if self.stop is not None:
                yield Label("esc skips it: nothing of it is kept, the rest is saved", classes="hint")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.stop is not None if action == "stop" else True

    def report(self, progress: Progress) -> None:
        """Safe to call from the engine thread."""
        self.post_message(WorkProgressed(progress))

    def on_work_progressed(self, message: WorkProgressed) -> None:
        p = message.progress
        self.query_one("#work-stage", Label).update(fmt.progress(p))
        bar = self.query_one("#work-bar", ProgressBar)
        if p.total:
            bar.update(total=p.total, progress=p.done)
        else:  # a stage without a count: the bar moves to say it is working, not stuck at a percentage
            bar.update(total=None)

    def action_stop(self) -> None:
        if self.stop is not None:
            self.stop.set()
            self.query_one("#work-stage", Label).update("stopping at the next safe point…")


class ReceiptScreen(ModalScreen[None]):
    """Shown once after a forget or redact; every receipt stays listed in the audit view."""

    BINDINGS = [Binding("escape,enter", "close", "close", id="receipt.close")]

    def __init__(self, receipt: ForgetReceipt) -> None:
        super().__init__()
        self.receipt = receipt

    def compose(self) -> ComposeResult:
        with Vertical(id="receipt-box", classes="dialog"):
            yield ReceiptView(self.receipt, id="receipt")
            with Horizontal(classes="buttons"):
                yield Button("OK", variant="primary", id="receipt-ok", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()

    def action_close(self) -> None:
        self.dismiss()
