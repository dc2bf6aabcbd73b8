"""Memories: the table with strengths, filter and sort, redacting a span, forgetting with a receipt."""

from __future__ import annotations

import re

from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from runtime.tui.screens.audit import AuditScreen
from runtime.tui.screens.confirm import ConfirmScreen
from runtime.tui.screens.memories import MemoriesScreen
from runtime.tui.screens.memory import MemoryScreen, merge
from runtime.tui.screens.receipt import ReceiptScreen
from runtime.tui.widgets.memory_table import MemoryTable
from runtime.tui.widgets.receipt import ReceiptView
from tests.runtime.tui.helpers import chatting, idle, seed, until

TEXTS = ("I like green tea", "my neighbour Oskar Brandt owes me money", "mail me at ana@example.org")


async def open_memories(pilot) -> MemoryTable:
    app = pilot.app
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "the memories screen")
    table = app.screen.query_one(MemoryTable)
    await until(pilot, lambda: table.rows_all and len(table.strengths) == len(table.rows_all), "the strengths")
    return table


def column(table: MemoryTable, key: str) -> list[str]:
    return [str(table.get_cell(row, key)) for row in table.rows]


async def test_the_table_shows_every_episode_with_its_measured_strength(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, *TEXTS)
        table = await open_memories(pilot)
        assert column(table, "preview") == list(reversed(TEXTS))  # newest first
        assert column(table, "state") == ["fast"] * 3
        assert column(table, "flags")[0] == "email"
        measured = await app.engine.call(lambda a: a.strengths())
        assert table.strengths == measured  # nothing shown is invented
        title = str(app.screen.query_one("#memories-title").content)
        assert "3 episodes" in title and "3 awaiting sleep" in title
        await pilot.press("s")
        assert table.sort_by == "strength"
        order = [r.id for r in table.shown()]
        assert order == sorted(measured, key=measured.get, reverse=True)
        await pilot.press("slash")
        assert app.focused.id == "memories-filter"
        await pilot.press(*"tea")
        assert column(table, "preview") == ["I like green tea"]
        await pilot.press("enter")  # back to the table
        assert app.focused is table
        await pilot.press("slash", "escape")  # esc in the filter also goes back to the table
        assert app.focused is table and isinstance(app.screen, MemoriesScreen)
        await pilot.press("escape")
        assert app.screen is app.chat


async def test_redact_a_selected_span(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, *TEXTS[:2])
        table = await open_memories(pilot)
        table.move_cursor(row=0)  # the newest: the neighbour
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen) and app.screen.view is not None, "the episode")
        detail = app.screen
        area = detail.query_one(TextArea)
        assert area.text == TEXTS[1] and area.read_only
        start = TEXTS[1].index("Oskar Brandt")
        area.selection = Selection((0, start), (0, start + len("Oskar")))
        await pilot.press("m")
        area.selection = Selection((0, start + len("Oskar ")), (0, start + len("Oskar Brandt")))
        await pilot.press("m")
        assert detail.spans == [(start, start + 5), (start + 6, start + 12)]
        assert "my neighbour [REDACTED] [REDACTED] owes" in str(detail.query_one("#memory-marked").content)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = str(app.screen.query_one("#confirm-text").content)
        assert "“my neighbour [REDACTED] [REDACTED] owes me money”" in question and "cannot be undone" in question
        planned = int(re.search(r"\((\d+) steps? of the log", question).group(1))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
        receipt = app.screen.receipt
        assert receipt.episodes_replayed == planned  # one number: the plan asked about is what was done
        assert receipt.replaced_by and "Redacted · receipt" in str(app.screen.query_one(ReceiptView).content)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "the list again")
        await idle(pilot)
        assert column(table, "preview")[0] == "my neighbour [REDACTED] [REDACTED] owes me money"
        assert column(table, "state")[0] == "redacted"
        assert "2 awaiting sleep" in str(app.screen.query_one("#memories-title").content)  # redacted is pending too
        view = await app.engine.call(lambda a: a.episode(receipt.replaced_by))
        assert "Oskar" not in view.user and "Brandt" not in view.user


async def test_forget_asks_once_then_shows_the_receipt_kept_in_the_audit_view(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, *TEXTS)
        table = await open_memories(pilot)
        keep = {r.id for r in table.rows_all}
        table.move_cursor(row=1)
        await pilot.press("x")  # select the middle one and the oldest
        await pilot.press("x")
        chosen = table.chosen()
        assert len(chosen) == 2 and column(table, "preview")[1].startswith("✓ ")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert app.screen.title_text == "Forget 2 memories?"
        await pilot.press("escape")  # no: nothing happens
        await idle(pilot)
        assert {r.id for r in await app.engine.call(lambda a: a.memories())} == keep
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
        receipt = app.screen.receipt
        assert set(receipt.records_shredded) == set(chosen) and receipt.verification is not None
        text = str(app.screen.query_one(ReceiptView).content)
        assert f"Forgotten · receipt {receipt.id[:8]}" in text and "2 records shredded with their keys" in text
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "the list again")
        await idle(pilot)
        assert column(table, "preview") == [TEXTS[2]]
        assert app.status.episodes == 1
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.receipts, "the audit view")
        assert app.screen.receipts == [receipt]
        await pilot.press("tab")  # to the receipts
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt from the audit view")
        assert app.screen.receipt == receipt


async def test_forget_from_the_detail_view(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, TEXTS[0])
        await open_memories(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MemoryScreen) and app.screen.view is not None, "the episode")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "the list, not the gone episode")
        await idle(pilot)
        assert app.screen.query_one(MemoryTable).rows_all == []
        assert "Nothing is kept yet" in str(app.screen.query_one("#memories-empty").content)


def test_marked_spans_merge():
    assert merge([(5, 9), (0, 2), (8, 12), (12, 14)]) == [(0, 2), (5, 14)]
