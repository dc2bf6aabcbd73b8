"""The memories as a table: filtered, sorted and selected in the view only (the engine is not asked)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from runtime.assistant import MemoryRow
from runtime.tui import format as fmt

SORTS = ("when", "strength", "state")
_STATE_ORDER = {"fast": 0, "redacted": 1, "slept": 2}
_FIXED = {"when": 11, "strength": 11, "flags": 8, "state": 8}  # the preview takes the rest


class MemoryTable(DataTable):
    def __init__(self, now: Callable[[], datetime], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.now = now
        self.rows_all: list[MemoryRow] = []
        self.strengths: dict[str, float] = {}
        self.marked: set[str] = set()
        self.sort_by = "when"
        self.filter = ""
        self._width = 0

    # -- what is shown --------------------------------------------------------------------------

    def shown(self) -> list[MemoryRow]:
        needle = self.filter.lower()
        rows = [r for r in self.rows_all
                if not needle or needle in r.preview.lower() or needle in r.state or any(needle in f for f in r.flags)]
        if self.sort_by == "strength":
            return sorted(rows, key=lambda r: self.strengths.get(r.id, float("-inf")), reverse=True)
        if self.sort_by == "state":
            return sorted(rows[::-1], key=lambda r: _STATE_ORDER.get(r.state, 9))
        return rows[::-1]  # newest first, in the log's order (a redaction keeps its original's place)

    def show(self, rows: Sequence[MemoryRow] | None = None, strengths: dict[str, float] | None = None) -> None:
        """Redraw, keeping the cursor on the same episode where it still shows."""
        if rows is not None:
            self.rows_all = list(rows)
            self.marked &= {r.id for r in rows}
        if strengths is not None:
            self.strengths = dict(strengths)
        keep = self.current_id()
        self.clear(columns=True)
        preview_width = max(12, self.size.width - sum(_FIXED.values()) - 2 * (len(_FIXED) + 1) - 2)
        self.add_column("when", key="when", width=_FIXED["when"])
        self.add_column("what you said", key="preview", width=preview_width)
        self.add_column("strength", key="strength", width=_FIXED["strength"])
        self.add_column("flags", key="flags", width=_FIXED["flags"])
        self.add_column("state", key="state", width=_FIXED["state"])
        top = max([v for v in self.strengths.values() if v > 0], default=0.0)
        now = self.now()
        for r in self.shown():
            self.add_row(fmt.when(r.when, now), self._preview(r, preview_width), self._strength(r.id, top),
                         ", ".join(r.flags), r.state, key=r.id)
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep))

    def _preview(self, r: MemoryRow, width: int) -> Text:
        """The text, after a ✓ when the episode is selected."""
        mark = "✓ " if r.id in self.marked else ""
        text = mark + r.preview
        text = text if len(text) <= width else text[:width - 1] + "…"
        return Text(text, style="bold" if mark else "")

    def _strength(self, rid: str, top: float) -> Text:
        if rid not in self.strengths:
            return Text("…", style="dim")
        value = self.strengths[rid]
        return Text(f"{fmt.bar(value, top, 6):<6}{value:5.2f}")

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self.show()

    # -- selection ------------------------------------------------------------------------------

    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return key.value

    def toggle_mark(self) -> None:
        rid = self.current_id()
        if rid is None:
            return
        self.marked ^= {rid}
        row = next(r for r in self.rows_all if r.id == rid)
        self.update_cell(rid, "preview", self._preview(row, self.columns["preview"].width))
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def chosen(self) -> list[str]:
        """The marked episodes, or else the one under the cursor."""
        if self.marked:
            return [r.id for r in self.rows_all if r.id in self.marked]
        rid = self.current_id()
        return [] if rid is None else [rid]
