"""Audit: the hash-chained, content-free log of what happened, a verify action, and every receipt."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Label

from privacy.audit import AuditVerdict
from runtime.assistant import ForgetReceipt
from runtime.tui import format as fmt
from runtime.tui.screens.section import Section

REASONS = {
    "entry": "an entry was edited, moved, inserted or removed",
    "missing": "entries were removed from the end",
    "unsealed": "entries were added outside the store",
    "head": "the sealed head does not match",
}


def verdict_text(v: AuditVerdict) -> str:
    if v:
        return f"✓ chain verified: {fmt.plural(v.count, 'entry', 'entries')}, each linked to the one before"
    return f"✗ chain broken at entry {v.first_bad}: {REASONS.get(v.reason or '', v.reason)}"


class AuditScreen(Section):
    BINDINGS = [
        Binding("v", "verify", "verify", id="audit.verify", tooltip="Recompute every link"),
        Binding("escape", "back", "back", id="audit.back", tooltip="Back to the chat"),
    ]
    AUTO_FOCUS = "#audit-table"

    def __init__(self) -> None:
        super().__init__()
        self.receipts: list[ForgetReceipt] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="header"):
            yield Label("Audit", id="audit-title")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Label("press v to verify the chain", id="audit-verdict")
        yield Label("Receipts", id="receipts-label", classes="section")
        yield DataTable(id="receipt-table", cursor_type="row")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        self.load()

    @work(exclusive=True, group="audit")
    async def load(self) -> None:
        entries, receipts = await self.app.engine.call(lambda a: (a.audit_entries(), a.receipts()))
        self.receipts = receipts
        now = self.app.now()
        self.query_one("#audit-title", Label).update(
            f"Audit · {fmt.plural(len(entries), 'entry', 'entries')} · actions, ids, hashes and times; never content")
        table = self.query_one("#audit-table", DataTable)
        table.clear(columns=True)
        table.add_columns("#", "time", "action", "ids", "hash")
        for e in reversed(entries):
            ids = "" if not e.ids else fmt.short(e.ids[0]) + (f" +{len(e.ids) - 1}" if len(e.ids) > 1 else "")
            table.add_row(str(e.index), fmt.stamp(e.time, now), e.action, ids, fmt.short(e.hash, 12))
        rtable = self.query_one("#receipt-table", DataTable)
        rtable.clear(columns=True)
        rtable.add_columns("receipt", "kind", "shredded", "dropped", "replayed", "state")
        for i, r in enumerate(reversed(receipts)):
            rtable.add_row(fmt.short(r.id), "redact" if r.replaced_by else "forget", str(len(r.records_shredded)),
                           str(len(r.checkpoints_dropped)), str(r.episodes_replayed), fmt.short(r.state_hash, 12),
                           key=str(len(receipts) - 1 - i))
        rtable.display = bool(receipts)
        self.query_one("#receipts-label", Label).update(
            f"Receipts · {len(receipts)} · enter shows one" if receipts else "Receipts · none: nothing was forgotten")

    @work(exclusive=True, group="verify")
    async def action_verify(self) -> None:
        label = self.query_one("#audit-verdict", Label)
        label.update("verifying…")
        verdict = await self.app.engine.call(lambda a: a.verify_audit())
        label.update(verdict_text(verdict))
        label.set_class(bool(verdict), "ok")
        label.set_class(not verdict, "bad")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "receipt-table":
            from runtime.tui.screens.receipt import ReceiptScreen

            self.app.push_screen(ReceiptScreen(self.receipts[int(event.row_key.value)]))

    def action_back(self) -> None:
        self.dismiss()
