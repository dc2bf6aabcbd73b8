"""Memories: every episode kept, how strongly the model holds it, and the keys to redact or forget."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Label

from runtime import HopeError
from runtime.tui import format as fmt
from runtime.tui.screens.section import Section
from runtime.tui.widgets.memory_table import SORTS, MemoryTable


class MemoriesScreen(Section):
    BINDINGS = [
        Binding("enter", "open", "open", id="memories.open", tooltip="Open the whole episode"),
        Binding("r", "redact", "redact", id="memories.redact", tooltip="Choose words to redact"),
        Binding("d", "forget", "forget", id="memories.forget", tooltip="Forget the selected episodes"),
        Binding("x", "select", "select", id="memories.select", tooltip="Select or unselect this one"),
        Binding("slash", "filter", "filter", id="memories.filter", tooltip="Show only matching episodes"),
        Binding("s", "sort", "sort", id="memories.sort", tooltip="Sort by time, strength, state"),
        Binding("e", "export", "export", id="memories.export", tooltip="Export everything, decrypted"),
        Binding("escape", "back", "back", id="memories.back", tooltip="Back to the chat"),
    ]
    AUTO_FOCUS = "#memory-table"

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="memories-header", classes="header"):
            yield Label("Memories", id="memories-title")
            yield Input(placeholder="/ filter", id="memories-filter", compact=True)
            yield Label("", id="memories-sort")
        yield MemoryTable(self.app.now, id="memory-table")
        yield Label("loading… (after the reply or sleep in progress, if any)", id="memories-empty", classes="hint")
        yield Footer(compact=True)

    @property
    def table(self) -> MemoryTable:
        return self.query_one(MemoryTable)

    def on_screen_resume(self) -> None:
        self.load()

    @work(exclusive=True, group="memories")
    async def load(self) -> None:
        """The rows first, then the strengths (two forwards per episode, so they come a moment later)."""
        rows, status = await self.app.engine.call(lambda a: (a.memories(), a.status()))
        self.table.show(rows)
        self._describe(status.pending)
        if rows:
            strengths = await self.app.engine.call(lambda a: a.strengths([r.id for r in rows]))
            self.table.show(strengths=strengths)

    def _describe(self, pending: int | None = None) -> None:
        rows = self.table.rows_all
        if pending is not None:  # the engine's count: a redacted episode can be awaiting sleep too
            self.pending = pending
        self.query_one("#memories-title", Label).update(
            f"Memories · {fmt.plural(len(rows), 'episode')} · {self.pending} awaiting sleep")
        self.query_one("#memories-sort", Label).update(f"sort: {self.table.sort_by} ▾")
        self.query_one("#memories-empty", Label).update(
            "" if rows else "Nothing is kept yet: what you say in chat (outside incognito) shows up here.")

    # -- actions --------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self, redact: bool = False) -> None:
        from runtime.tui.screens.memory import MemoryScreen

        rid = self.table.current_id()
        if rid is not None:
            row = next(r for r in self.table.rows_all if r.id == rid)
            self.app.push_screen(MemoryScreen(row, redact=redact))

    def action_redact(self) -> None:
        self.action_open(redact=True)

    def action_select(self) -> None:
        self.table.toggle_mark()

    def action_sort(self) -> None:
        table = self.table
        table.sort_by = SORTS[(SORTS.index(table.sort_by) + 1) % len(SORTS)]
        table.show()
        self._describe()

    def action_filter(self) -> None:
        self.query_one("#memories-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.table.filter = event.value
        self.table.show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def action_back(self) -> None:
        if self.query_one("#memories-filter", Input).has_focus:
            self.table.focus()
        else:
            self.dismiss()

    def action_forget(self) -> None:
        ids = self.table.chosen()
        if ids:
            self.app.ask_forget(ids)

    def action_export(self) -> None:
        from runtime.tui.screens.export import ExportScreen

        async def export(path: str | None) -> None:
            if not path:
                return
            try:
                count = await self.app.engine.call(lambda a: a.export(path))
            except HopeError as err:
                self.notify(str(err), title="nothing was exported", severity="error")
                return
            self.notify(f"{count} records written, decrypted, to {path}", title="exported")

        user = self.app.status.user if self.app.status else "hope"
        self.app.push_screen(ExportScreen(user), lambda path: self.run_worker(export(path)))
