"""Help: every key (as remapped by the keymap) and every slash command."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Label, Static

from runtime.tui.screens.audit import AuditScreen
from runtime.tui.screens.chat import COMMANDS, ChatScreen
from runtime.tui.screens.memories import MemoriesScreen
from runtime.tui.screens.memory import MemoryScreen
from runtime.tui.screens.section import Section
from runtime.tui.screens.settings import SettingsScreen
from runtime.tui.screens.sleep import SleepScreen
from runtime.tui.widgets.chat_input import ChatInput

KEYMAP_HINT = ("Keys can be remapped in keymap.toml in the data directory, e.g. [keymap] then "
               '"app.memories" = "f7" (the names are the sections and actions above: app.help, chat.stop, '
               'memories.forget…).')


def _key(binding: Binding, keymap: dict[str, str]) -> str:
    key = keymap.get(binding.id or "", binding.key)
    return ", ".join(part.strip().replace("slash", "/").replace("escape", "esc") for part in key.split(","))


class HelpScreen(Section):
    BINDINGS = [Binding("escape", "back", "back", id="help.back", tooltip="Back")]
    AUTO_FOCUS = "#help-body"  # arrows scroll the whole page; focusing the table would scroll past the commands

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):  # the short list first, so no screen size cuts it
            yield Label("Slash commands (type them in chat)", classes="section")
            yield Static("\n".join(f"{name:<11} {what}" for name, what in COMMANDS.items()), markup=False,
                         id="help-commands")
            yield Label("Keys", classes="section")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(KEYMAP_HINT, classes="hint", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("where", "key", "does")
        keymap = getattr(self.app, "keymap", {})
        sections = [("anywhere", type(self.app)), ("chat", ChatScreen), ("chat", ChatInput),
                    ("memories", MemoriesScreen), ("a memory", MemoryScreen), ("sleep", SleepScreen),
                    ("audit", AuditScreen), ("settings", SettingsScreen)]
        for where, owner in sections:
            for binding in owner.BINDINGS:
                if isinstance(binding, Binding) and binding.id:
                    table.add_row(where, _key(binding, keymap), binding.tooltip or binding.description,
                                  key=binding.id)  # the keymap name, kept off screen

    def action_back(self) -> None:
        self.dismiss()
