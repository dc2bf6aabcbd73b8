"""Settings: saved through the engine, refused values explained, a retention change that forgets asks first."""

from __future__ import annotations

from textual.widgets import Input, SelectionList

from runtime.tui.screens.confirm import ConfirmScreen
from runtime.tui.screens.settings import SettingsScreen
from tests.runtime.tui.helpers import chatting, idle, seed, until


def error(app) -> str:
    return str(app.screen.query_one("#settings-error").content)


async def open_settings(pilot) -> SettingsScreen:
    await pilot.press("f6")
    await until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen), "the settings screen")
    return pilot.app.screen


async def test_a_setting_is_saved_and_a_bad_value_is_explained(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        screen = await open_settings(pilot)
        assert "tiny test model" in str(screen.query_one("#model-info").content)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: error(app), "the answer")
        assert error(app) == "nothing changed"
        screen.query_one("#idle-sleep", Input).value = "5"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "idle_sleep_seconds" in error(app), "the refusal")
        assert "≥ 10" in error(app) and app.settings.idle_sleep_seconds == 300
        screen.query_one("#idle-sleep", Input).value = "60"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.settings.idle_sleep_seconds == 60, "the saved setting")
        await idle(pilot)
        assert error(app) == ""
        assert (await app.engine.call(lambda a: a.settings)).idle_sleep_seconds == 60
        assert app.settings.never_learn == (await app.engine.call(lambda a: a.settings)).never_learn


async def test_a_retention_change_that_forgets_asks_first(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea", "mail me at ana@example.org")
        screen = await open_settings(pilot)
        screen.query_one("#forget-categories", SelectionList).select("email")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "1 memory match the new policy today" in str(app.screen.query_one("#confirm-text").content)
        await pilot.press("escape")  # no: nothing saved, nothing forgotten
        await idle(pilot)
        assert app.settings.forget_categories == () and app.status.episodes == 2
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("enter")
        await until(pilot, lambda: app.settings.forget_categories == ("email",), "the saved policy")
        await idle(pilot)
        rows = await app.engine.call(lambda a: a.memories())
        assert [r.preview for r in rows] == ["I like green tea"]
        assert len(await app.engine.call(lambda a: a.receipts())) == 1  # kept for the audit view
