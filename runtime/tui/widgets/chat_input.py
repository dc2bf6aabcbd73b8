"""The chat's input line, with the history of what was sent (up/down), like a shell."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class ChatInput(Input):
    BINDINGS = [
        Binding("up", "older", "older", show=False, id="chat.history_older", tooltip="An earlier message you sent"),
        Binding("down", "newer", "newer", show=False, id="chat.history_newer", tooltip="A later message you sent"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._at = 0  # index into history; len(history) is the line being typed
        self._draft = ""

    def remember(self, text: str) -> None:
        if not self.history or self.history[-1] != text:
            self.history.append(text)
        self._at = len(self.history)
        self._draft = ""

    def action_older(self) -> None:
        if self._at == 0:
            return
        if self._at == len(self.history):
            self._draft = self.value
        self._at -= 1
        self.value = self.history[self._at]
        self.cursor_position = len(self.value)

    def action_newer(self) -> None:
        if self._at >= len(self.history):
            return
        self._at += 1
        self.value = self._draft if self._at == len(self.history) else self.history[self._at]
        self.cursor_position = len(self.value)
