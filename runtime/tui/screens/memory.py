"""One memory in full: what you said, what the model read, its reply; mark words and redact them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Label, Static, TextArea

from runtime.assistant import REDACTED, EpisodeView, MemoryRow
from runtime.tui import format as fmt
from runtime.tui.screens.section import Section


def merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping or touching ones joined (the engine wants them disjoint)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


class MemoryScreen(Section):
    BINDINGS = [
        Binding("m", "mark", "mark", id="memory.mark", tooltip="Mark the selected words"),
        Binding("u", "unmark", "unmark all", id="memory.unmark", tooltip="Unmark all"),
        Binding("r", "redact", "redact", id="memory.redact", tooltip="Redact the marked words"),
        Binding("d", "forget", "forget", id="memory.forget", tooltip="Forget this episode"),
        Binding("escape", "back", "back", id="memory.back", tooltip="Back to the list"),
    ]

    def __init__(self, row: MemoryRow, *, redact: bool = False) -> None:
        super().__init__()
        self.row = row
        self.start_redacting = redact
        self.view: EpisodeView | None = None
        self.spans: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="memory-body"):
            yield Label(self._heading(), id="memory-heading", classes="header")
            yield Label("what you said · select words (shift+arrows, mouse), m marks, r redacts",
                        classes="section")
            yield TextArea("", read_only=True, soft_wrap=True, id="memory-text")
            yield Label("marked for redaction", classes="section", id="memory-marked-label")
            yield Static("", id="memory-marked")
            yield Label("what the model read (never-learn categories replaced)", classes="section",
                        id="memory-learned-label")
            yield Static("", id="memory-learned")
            yield Label("its reply", classes="section")
            yield Static("", id="memory-reply")
        yield Footer(compact=True)

    def _heading(self) -> str:
        flags = f" · flags: {', '.join(self.row.flags)}" if self.row.flags else ""
        held = f" · held by {' + '.join(self.row.levels)}" if self.row.levels else ""
        return (f"Memory · {fmt.when(self.row.when, self.app.now())} · {self.row.state}{held}{flags} · "
                f"{self.row.tokens} tokens")

    def on_mount(self) -> None:
        self.load()

    @work(group="memory")
    async def load(self) -> None:
        rid = self.row.id
        self.view = view = await self.app.engine.call(lambda a: a.episode(rid))
        text = self.query_one("#memory-text", TextArea)
        text.load_text(view.user)
        text.focus()
        same = view.learned == view.user
        self.query_one("#memory-learned", Static).update(Text(view.learned))
        self.query_one("#memory-learned", Static).display = not same
        self.query_one("#memory-learned-label", Label).display = not same
        self.query_one("#memory-reply", Static).update(Text(view.reply))
        self._show_marks()
        if self.start_redacting:
            self.notify("Select the words to redact, press m to mark them, then r.")

    def _show_marks(self) -> None:
        marked = self.query_one("#memory-marked", Static)
        if not self.spans or self.view is None:
            marked.update(Text("nothing marked", style="dim"))
            return
        text, out, pos = self.view.user, Text(), 0
        for a, b in self.spans:
            out.append(text[pos:a])
            out.append(REDACTED, style="bold reverse")
            pos = b
        out.append(text[pos:])
        marked.update(out)

    def action_mark(self) -> None:
        area = self.query_one("#memory-text", TextArea)
        start, end = sorted(area.selection)
        a, b = area.document.get_index_from_location(start), area.document.get_index_from_location(end)
        if a == b:
            self.notify("Select some words first (shift+arrows or drag with the mouse).")
            return
        self.spans = merge([*self.spans, (a, b)])
        self._show_marks()

    def action_unmark(self) -> None:
        self.spans = []
        self._show_marks()

    def action_redact(self) -> None:
        if self.view is None:
            return
        if not self.spans:
            self.action_mark()
            if not self.spans:
                return
        self.app.ask_redact(self.row.id, self.view.user, list(self.spans), leave=self)

    def action_forget(self) -> None:
        self.app.ask_forget([self.row.id], leave=self)

    def action_back(self) -> None:
        self.dismiss()
