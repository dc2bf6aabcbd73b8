"""The app as a whole: help lists every key, keys remap by id, quitting saves (and sleeps when due)."""

from __future__ import annotations

import asyncio
import threading

from textual.widgets import DataTable

from runtime.assistant import Assistant
from runtime.tui.engine import Engine
from runtime.tui.screens.help import HelpScreen
from runtime.tui.screens.memories import MemoriesScreen
from runtime.tui.screens.receipt import WorkScreen
from runtime.users import create_user, unlock
from tests.runtime.tui.helpers import PASS, chatting, exited, make_app, seed, until


async def test_help_lists_every_key_by_its_keymap_name(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        table = app.screen.query_one("#help-keys", DataTable)
        ids = {key.value for key in table.rows}
        assert len(table.columns) == 3  # where, key, does: no developer id column
        assert {"app.help", "app.memories", "app.sleep", "app.incognito", "app.audit", "app.settings", "app.quit",
                "chat.stop", "memories.forget", "memories.redact", "memory.mark", "memory.redact", "sleep.start",
                "audit.verify", "settings.save"} <= ids
        assert "/forget" in str(app.screen.query_one("#help-commands").content)
        await pilot.press("escape")
        assert app.screen is app.chat


async def test_keys_are_remapped_by_id_from_the_keymap_file(brain, root):
    create_user("ana", PASS, root=root)
    (root / "keymap.toml").write_text('[keymap]\n"app.memories" = "f7"\n')
    app = make_app(brain, root, user="ana", passphrase=PASS)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await pilot.press("f2")
        assert app.screen is app.chat
        await pilot.press("f7")
        await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "memories on f7")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        table = app.screen.query_one("#help-keys", DataTable)
        assert str(table.get_row("app.memories")[1]) == "f7"


async def test_quitting_sleeps_when_enough_is_pending_then_saves(app, brain, root):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await app.update_settings(sleep_on_exit_min=1)
        await seed(app, "I like green tea")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, WorkScreen) or app.return_code is not None, "closing")
        if isinstance(app.screen, WorkScreen):
            assert "before closing" in app.screen.title_text
        await exited(app)
    assert not app.engine.is_open
    again = Assistant.open(unlock("ana", PASS, root=root), brain)  # the store was released
    assert again.pending() == 0 and len(again.memories()) == 1
    again.close(sleep=False)


async def test_quitting_with_little_pending_just_saves(app, brain, root):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        state = app.status.state_hash
        await pilot.press("ctrl+q")
        await exited(app)
    again = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert again.pending() == 1 and again.state_hash == state
    again.close(sleep=False)


async def test_the_engine_runs_every_call_on_one_thread_in_order():
    engine = Engine()
    seen: list[tuple[int, str]] = []

    def job(name: str) -> str:
        seen.append((threading.get_ident(), name))
        return name

    results = await asyncio.gather(*(engine.run(job, str(i)) for i in range(5)))
    assert results == ["0", "1", "2", "3", "4"] and [n for _, n in seen] == results
    assert len({t for t, _ in seen}) == 1 and seen[0][0] != threading.get_ident()
    assert not engine.busy
    engine.shutdown()


async def test_a_job_cancelled_while_queued_leaves_the_engine_idle():
    """A screen that closes cancels its worker's queued call; the engine must not count it as busy."""
    engine = Engine()
    gate = threading.Event()
    first = asyncio.ensure_future(engine.run(gate.wait, 10))
    queued = asyncio.ensure_future(engine.run(lambda: "never"))
    await asyncio.sleep(0.05)
    queued.cancel()
    gate.set()
    assert await first is True
    await asyncio.sleep(0.05)
    assert not engine.busy
    engine.shutdown()
