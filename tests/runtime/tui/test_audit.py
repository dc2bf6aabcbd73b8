"""Audit: the content-free chain, newest first, and the verify action's verdict in words."""

from __future__ import annotations

from textual.widgets import DataTable

from privacy.audit import AuditVerdict
from runtime.assistant import Assistant
from runtime.tui.screens.audit import AuditScreen
from tests.runtime.tui.helpers import chatting, idle, seed, until


def verdict(app) -> str:
    return str(app.screen.query_one("#audit-verdict").content)


async def test_the_chain_is_listed_and_verified(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen)
                    and app.screen.query_one("#audit-table", DataTable).row_count, "the audit view")
        entries = await app.engine.call(lambda a: a.audit_entries())
        table = app.screen.query_one("#audit-table", DataTable)
        assert table.row_count == len(entries)
        assert str(table.get_row_at(0)[2]) == entries[-1].action  # newest first
        assert "none: nothing was forgotten" in str(app.screen.query_one("#receipts-label").content)
        await pilot.press("v")
        await until(pilot, lambda: "verified" in verdict(app), "the verdict")
        assert verdict(app) == f"✓ chain verified: {len(entries)} entries, each linked to the one before"
        assert app.screen.query_one("#audit-verdict").has_class("ok")


async def test_a_broken_chain_says_where(app, monkeypatch):
    monkeypatch.setattr(Assistant, "verify_audit", lambda self: AuditVerdict(False, 5, 3, "entry"))
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit view")
        await pilot.press("v")
        await until(pilot, lambda: "broken" in verdict(app), "the verdict")
        await idle(pilot)
        assert verdict(app) == "✗ chain broken at entry 3: an entry was edited, moved, inserted or removed"
        assert app.screen.query_one("#audit-verdict").has_class("bad")
