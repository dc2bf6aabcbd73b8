"""Destructive actions ask once, plainly, saying exactly what will happen (tui.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from runtime.assistant import REDACTED, ForgetPlan
from runtime.tui import format as fmt
from runtime.wording import replay_words


def forget_wording(plan: ForgetPlan, now: datetime) -> tuple[str, list[str]]:
    """The title and lines of the forget confirmation: each memory by date and words, and the
    engine's plan (the receipt afterwards reports the same count)."""
    chosen = plan.targets
    n = len(chosen)
    lines = [f"“{r.preview}” ({fmt.when(r.when, now)})" for r in chosen[:3]]
    if n > 3:
        lines.append(f"… and {n - 3} more")
    its = "its record and its key are" if n == 1 else "their records and keys are"
    lines.append(f"- {its} destroyed now; this cannot be undone")
    lines.append(f"- the model goes back to a saved state from before {'it' if n == 1 else 'them'} and "
                 f"{replay_words(plan)}")
    lines.append("- this conversation's context is cleared too, since it could quote it")
    lines.append("- a receipt then shows what was done and measured")
    return f"Forget {fmt.plural(n, 'memory', 'memories')}?", lines


def redact_wording(plan: ForgetPlan, text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, list[str]]:
    """The title and lines of the redact confirmation: the text as it will read, and the engine's plan."""
    out, pos = [], 0
    for a, b in sorted(spans):
        out += (text[pos:a], REDACTED)
        pos = b
    out.append(text[pos:])
    return f"Redact {fmt.plural(len(spans), 'span')}?", [
        f"“{' '.join(''.join(out).split())}”",
        "- the original record and its key are destroyed now; this cannot be undone",
        f"- the reply's copies of those words become {REDACTED} too",
        f"- the model goes back to a saved state from before it and {replay_words(plan)}, the redacted "
        "text in its place",
        "- this conversation's context is cleared too, since it could quote it",
    ]


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no to one destructive action; esc or Cancel says no."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="confirm.cancel")]

    def __init__(self, title: str, lines: Sequence[str], action: str) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Label(self.title_text, id="confirm-title", classes="dialog-title")
            yield Static("\n".join(self.lines), id="confirm-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.action_label, variant="error", id="confirm-yes", compact=True)
                yield Button("Cancel", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_cancel(self) -> None:
        self.dismiss(False)
