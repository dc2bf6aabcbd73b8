"""Helpers for Pilot tests: waiting for the engine thread, typing a turn, seeding turns directly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from runtime.tui.app import HopeApp

PASS = "correct horse battery"


class Clock:
    """A monotonic clock the test moves by hand (the idle trigger)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_app(brain, root, **kwargs) -> HopeApp:
    return HopeApp(root=root, brain_factory=lambda: brain, **kwargs)


async def until(pilot, predicate: Callable[[], object], what: str | Callable[[], str],
                timeout: float = 120.0) -> None:
    """Let the app run until ``predicate()`` holds (engine jobs finish on their own thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await pilot.pause(0.02)


async def exited(app, timeout: float = 30.0) -> None:
    """Wait for the app to call exit() (Pilot cannot pause an app that is exiting)."""
    deadline = time.monotonic() + timeout
    while app.return_code is None:
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app to exit")
        await asyncio.sleep(0.02)


async def chatting(pilot) -> None:
    """Wait for the unlocked chat, with its status fetched."""
    app = pilot.app
    await until(pilot, lambda: app.chat is not None and app.screen is app.chat and app.status is not None
                and app.focused is not None and app.focused.id == "chat-input", "the chat screen")


async def enter(pilot, selector: str, text: str) -> None:
    """Put ``text`` in an input and press enter in it (typing key by key is slow under Pilot)."""
    box = pilot.app.screen.query_one(selector)
    box.focus()
    box.value = text
    await pilot.press("enter")


async def say(pilot, text: str) -> None:
    """Send a chat message and wait until its turn has ended."""
    chat = pilot.app.chat
    await enter(pilot, "#chat-input", text)
    await until(pilot, lambda: not chat.generating, "the reply")
    await idle(pilot)


async def idle(pilot) -> None:
    """Wait until the engine thread has nothing queued, then let the UI catch up."""
    app = pilot.app
    await until(pilot, lambda: not app.engine.busy and all(w.is_finished for w in app.workers),
                lambda: f"the engine (busy: {app.engine.busy}; unfinished: "
                        f"{[(w.name, w.group, w.state.name) for w in app.workers if not w.is_finished]})")
    await pilot.pause()


async def seed(app, *texts: str) -> None:
    """Record turns through the engine directly (faster than typing, same API)."""
    for text in texts:
        await app.engine.call(lambda a, t=text: "".join(a.turn(t)))
    await app._fetch_status()


def hold_after_first_token(monkeypatch) -> threading.Event:
    """The model stops after its first token until the returned event is set, so a key pressed by
    the test lands mid-reply."""
    import personal_nl.generate as generate

    pressed, first = threading.Event(), threading.Event()
    pick = generate.pick

    def slow_pick(*args):
        if first.is_set():
            pressed.wait(10)
        first.set()
        return pick(*args)

    monkeypatch.setattr(generate, "pick", slow_pick)
    return pressed
