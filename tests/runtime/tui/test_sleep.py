"""Sleep: on demand from its screen, by itself when idle, and interrupted by a key or a turn (keeping nothing)."""

from __future__ import annotations

import threading
import time

import pytest

import runtime.assistant
from runtime.tui.screens.sleep import SleepScreen
from runtime.tui.widgets.status_line import StatusLine
from runtime.users import create_user
from tests.runtime.tui.helpers import PASS, Clock, chatting, enter, idle, make_app, seed, until


class Held:
    """Every sleep waits at its first safe point until it is asked to stop (then it stops there, as a
    real one would) or is released, so a test can interrupt it deterministically."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()

    def is_set(self) -> bool:
        return self.started.is_set()


@pytest.fixture
def held(monkeypatch):
    hold = Held()
    cycle = runtime.assistant.cycle

    def held_cycle(*args, should_stop, **kwargs):
        hold.started.set()
        deadline = time.monotonic() + 20
        while not should_stop() and not hold.released.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        return cycle(*args, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(runtime.assistant, "cycle", held_cycle)
    return hold


def status_text(app) -> str:
    return " ".join(str(label.content) for label in app.screen.query_one(StatusLine).query("Label"))


async def test_sleep_now_consolidates_what_is_pending(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea", "my dog is called Rex")
        assert app.status.pending == 2
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, SleepScreen), "the sleep screen")
        assert "2 episodes learned awake" in str(app.screen.query_one("#sleep-pending").content)
        await pilot.press("s")
        await until(pilot, lambda: app.last_sleep is not None, "the sleep", timeout=60)
        await idle(pilot)
        report = app.last_sleep
        assert not report.interrupted and report.episodes == 2
        assert app.status.pending == 0 and app.status.tokens_since_sleep == 0
        assert app.status.state_hash == report.state_hash
        assert "Last sleep: 2 episodes" in str(app.screen.query_one("#sleep-last").content)
        assert "nothing to sleep on" in str(app.screen.query_one("#sleep-stage").content)
        assert app.sleep_in is None  # nothing pending: no countdown


async def test_esc_interrupts_a_sleep_and_nothing_is_kept(app, held):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        before = app.status.state_hash
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, SleepScreen), "the sleep screen")
        await pilot.press("s")
        await until(pilot, held.is_set, "the sleep to start")
        assert "sleeping" in status_text(app) and app.screen.query_one("#sleep-bar").display
        await pilot.press("escape")
        await until(pilot, lambda: app.last_sleep is not None, "the interrupted sleep")
        await idle(pilot)
        assert app.last_sleep.interrupted
        assert app.status.pending == 1 and app.status.state_hash == before
        assert "nothing of it was kept" in str(app.screen.query_one("#sleep-last").content)
        assert isinstance(app.screen, SleepScreen)  # esc stopped the sleep; a second esc goes back


async def test_typing_a_message_interrupts_the_sleep_then_the_turn_runs(app, held):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        app.start_sleep()
        await until(pilot, held.is_set, "the sleep to start")
        await enter(pilot, "#chat-input", "my dog is called Rex")
        await until(pilot, lambda: app.last_sleep is not None and not app.chat.generating, "the turn")
        await idle(pilot)
        assert app.last_sleep.interrupted
        assert [r.preview for r in await app.engine.call(lambda a: a.memories())] == [
            "I like green tea", "my dog is called Rex"]
        assert app.status.pending == 2


async def test_idle_sleep_starts_by_itself_and_any_key_wakes_it(brain, root, held):
    create_user("ana", PASS, root=root)
    clock = Clock()
    app = make_app(brain, root, user="ana", passphrase=PASS, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        idle_for = app.settings.idle_sleep_seconds
        app.count_down()
        assert app.sleep_in == idle_for and f"sleeps in {idle_for // 60}:00" in status_text(app)
        clock.now += idle_for - 60
        app.count_down()
        assert "sleeps in 1:00" in status_text(app)
        clock.now += 60
        app.count_down()
        await until(pilot, held.is_set, "the idle sleep")
        assert app.sleep_progress is not None and "sleeping" in status_text(app)
        await pilot.press("a")  # any key: the person is back
        await until(pilot, lambda: app.last_sleep is not None, "the interrupted sleep")
        await idle(pilot)
        assert app.last_sleep.interrupted and app.status.pending == 1
        app.count_down()
        assert app.sleep_progress is None and app.sleep_in == idle_for  # the wait starts over
        held.released.set()
        clock.now += idle_for
        app.count_down()
        await until(pilot, lambda: app.last_sleep is not None and not app.last_sleep.interrupted, "the next idle sleep")
        await idle(pilot)
        assert app.status.pending == 0 and app.sleep_in is None
