"""A screen over the chat: its footer shows its own keys plus help and quit, not every section's
f-key (those still work), so the footer fits at 80 columns."""

from __future__ import annotations

from textual.binding import ActiveBinding
from textual.screen import Screen

ALWAYS_SHOWN = ("app.help", "app.quit")


class Section(Screen):
    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return {key: active for key, active in super().active_bindings.items()
                if active.node is not self.app or active.binding.id in ALWAYS_SHOWN}
