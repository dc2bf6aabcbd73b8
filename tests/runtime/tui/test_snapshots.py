"""Pictures of the main screens at 80×24 and 120×36, on fixed data (sample.py), a frozen clock and a
cursor that does not blink. Review a changed picture before `pytest --snapshot-update`."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input, TextArea
from textual.widgets.text_area import Selection

from runtime.assistant import SleepReport
from runtime.sleep import Progress
from runtime.tui.app import HopeApp
from runtime.tui.screens.receipt import ReceiptScreen, WorkScreen
from tests.runtime.tui.sample import NOW, RECEIPT, SampleAssistant

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


@pytest.fixture(autouse=True)
def frozen_cursor(monkeypatch):
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


def sample_app() -> HopeApp:
    return HopeApp(assistant=SampleAssistant(), clock=lambda: 1000.0, now=lambda: NOW)


async def settle(pilot, predicate=lambda: True) -> None:
    """Until ``predicate()`` holds and nothing runs, except a worker waiting for an answer (group "ask")."""
    deadline = time.monotonic() + 10
    while not (predicate() and not pilot.app.engine.busy
               and all(w.is_finished or w.group == "ask" for w in pilot.app.workers)):
        assert time.monotonic() < deadline, "the app did not settle"
        await pilot.pause(0.02)
    await pilot.pause()


async def chat_ready(pilot) -> None:
    await settle(pilot, lambda: pilot.app.chat is not None and pilot.app.screen is pilot.app.chat)


class TestUnlock:
    def test_create_form(self, snap_compare, tmp_path, size):
        """The first run: name, passphrase twice, the note on what the passphrase protects."""
        app = HopeApp(root=tmp_path, brain_factory=lambda: SampleAssistant().brain, now=lambda: NOW)

        async def ready(pilot):
            await settle(pilot, lambda: pilot.app.brain is not None)

        assert snap_compare(app, terminal_size=size, run_before=ready)

    def test_wrong_passphrase_message_is_whole(self, snap_compare, tmp_path, size):
        """The refusal wraps inside the box instead of being cut."""
        app = HopeApp(root=tmp_path, brain_factory=lambda: SampleAssistant().brain, now=lambda: NOW)

        async def refused(pilot):
            await settle(pilot, lambda: pilot.app.brain is not None)
            pilot.app.screen._say("Wrong passphrase for hope-test-user. Nothing was changed; try again.", "error")
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=refused)


class TestChat:
    def test_an_exchange_then_incognito(self, snap_compare, size):
        """A streamed Markdown reply, then incognito: the notice, the amber frame, 'not learning'."""
        async def talk(pilot):
            await chat_ready(pilot)
            box = pilot.app.screen.query_one("#chat-input")
            box.value = "btw my sister Lena just moved to Bergen"
            await pilot.press("enter")
            await settle(pilot, lambda: not pilot.app.chat.generating)
            await pilot.press("f4")
            await settle(pilot, lambda: pilot.app.status.incognito)

        assert snap_compare(sample_app(), terminal_size=size, run_before=talk)


class TestMemories:
    def test_table(self, snap_compare, size):
        """Episodes newest first with measured strength bars, flags and state."""
        async def open_(pilot):
            await chat_ready(pilot)
            await pilot.press("f2")
            await settle(pilot, lambda: pilot.app.screen.query("#memory-table")
                         and pilot.app.screen.query_one("#memory-table").strengths)

        assert snap_compare(sample_app(), terminal_size=size, run_before=open_)

    def test_forget_confirmation(self, snap_compare, size):
        """Forget asks once and says exactly what happens."""
        async def ask(pilot):
            await chat_ready(pilot)
            await pilot.press("f2")
            await settle(pilot, lambda: pilot.app.screen.query("#memory-table"))
            await pilot.press("down", "d")
            await settle(pilot, lambda: pilot.app.screen.query("#confirm-text"))

        assert snap_compare(sample_app(), terminal_size=size, run_before=ask)

    def test_detail_with_marked_words(self, snap_compare, size):
        """One episode in full, with two words marked for redaction."""
        async def mark(pilot):
            await chat_ready(pilot)
            await pilot.press("f2")
            await settle(pilot, lambda: pilot.app.screen.query("#memory-table"))
            await pilot.press("down", "enter")
            await settle(pilot, lambda: pilot.app.screen.query("#memory-text")
                         and pilot.app.screen.query_one("#memory-text").text)
            start = pilot.app.screen.query_one("#memory-text").text.index("on Friday")
            pilot.app.screen.query_one("#memory-text").selection = Selection((0, start), (0, start + 9))
            await pilot.press("m")

        assert snap_compare(sample_app(), terminal_size=size, run_before=mark)

    def test_receipt(self, snap_compare, size):
        """The receipt after a forget: what was destroyed, replayed and measured."""
        async def show(pilot):
            await chat_ready(pilot)
            await pilot.app.push_screen(ReceiptScreen(RECEIPT))

        assert snap_compare(sample_app(), terminal_size=size, run_before=show)


class TestWaiting:
    def test_forget_in_progress_names_its_stage(self, snap_compare, size):
        """A forget's progress: what it will do and about how long, then the stage it is in by name."""
        async def working(pilot):
            await chat_ready(pilot)
            screen = WorkScreen("Forgetting 1 memory…", note="The model re-learns 10 episodes and 1 sleep "
                                "(11 steps of the log, about 40 s).")
            await pilot.app.push_screen(screen)
            screen.report(Progress("replaying", 3, 11))
            await settle(pilot, lambda: "re-learning" in str(screen.query_one("#work-stage").content))

        assert snap_compare(sample_app(), terminal_size=size, run_before=working)


class TestSleep:
    def test_pending_and_last_results(self, snap_compare, size):
        """What is pending, and the last sleep's results."""
        async def open_(pilot):
            await chat_ready(pilot)
            pilot.app.last_sleep = SleepReport(3, 18, 41.7, "8a50fc92" * 8, False)
            await pilot.press("f3")
            await settle(pilot)

        assert snap_compare(sample_app(), terminal_size=size, run_before=open_)


class TestAudit:
    def test_verified_chain_and_receipts(self, snap_compare, size):
        """The content-free chain, newest first, verified; the receipts below."""
        async def verify(pilot):
            await chat_ready(pilot)
            await pilot.press("f5")
            await settle(pilot, lambda: pilot.app.screen.query("#audit-table"))
            await pilot.press("v")
            await settle(pilot, lambda: "verified" in str(pilot.app.screen.query_one("#audit-verdict").content))

        assert snap_compare(sample_app(), terminal_size=size, run_before=verify)


class TestSettingsAndHelp:
    def test_settings(self, snap_compare, size):
        """Every setting with its unit, the category lists, the model."""
        async def open_(pilot):
            await chat_ready(pilot)
            await pilot.press("f6")
            await settle(pilot)

        assert snap_compare(sample_app(), terminal_size=size, run_before=open_)

    def test_help(self, snap_compare, size):
        """Every key with what it does and its id, then the slash commands."""
        async def open_(pilot):
            await chat_ready(pilot)
            await pilot.press("f1")
            await settle(pilot)

        assert snap_compare(sample_app(), terminal_size=size, run_before=open_)


@pytest.fixture(params=SIZES)
def size(request):
    return request.param
