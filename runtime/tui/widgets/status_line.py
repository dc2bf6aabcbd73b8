"""The line that always says whether the model is learning right now (tui.md's first principle)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from runtime.tui import format as fmt


class StatusLine(Horizontal):
    """Model and user on the left; learning, tokens since sleep and the sleep countdown on the right."""

    def __init__(self) -> None:
        super().__init__()
        self._left = Label(id="status-left")
        self._right = Label(id="status-right")

    def compose(self) -> ComposeResult:
        self._show()  # drawn from the first frame, not one message later
        yield self._left
        yield self._right

    def on_mount(self) -> None:
        for name in ("status", "sleep_in", "sleep_progress"):
            self.watch(self.app, name, self._show, init=False)
        self._show()

    def _show(self, _value: object = None) -> None:
        app = self.app
        st = getattr(app, "status", None)
        left, right = self._left, self._right
        if st is None:
            left.update("hope")
            right.update("")
            return
        left.update(f"hope · {st.user} · {st.model}")  # the model's name is what a narrow screen cuts
        self.set_class(st.incognito, "incognito")
        parts = ["incognito · not learning" if st.incognito else "learning ●"]
        if not st.incognito or st.tokens_since_sleep:
            parts.append(f"{st.tokens_since_sleep} tok since sleep")
        progress = app.sleep_progress
        if progress is not None:
            self.add_class("sleeping")
            parts.append(f"sleeping: {fmt.progress(progress)}")
        else:
            self.remove_class("sleeping")
            if app.sleep_in is not None:
                parts.append(f"sleeps in {fmt.countdown(app.sleep_in)}")
        right.update(" · ".join(parts))
