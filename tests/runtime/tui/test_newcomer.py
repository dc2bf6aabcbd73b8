"""What a newcomer stumbles on in the app (issue 15): Ctrl-C, input that is refused, focus, the
forget question, progress by stage, and the greeting after a restart."""

from __future__ import annotations

from textual.widgets import Footer

from runtime.assistant import MAX_MESSAGE_CHARS, Assistant
from runtime.tui.messages import SleepProgressed
from runtime.tui.screens.confirm import ConfirmScreen
from runtime.tui.screens.receipt import ReceiptScreen, WorkScreen
from runtime.tui.screens.settings import SettingsScreen
from runtime.tui.widgets.chat_input import ChatInput
from runtime.tui.widgets.transcript import Notice, Reply, Said
from runtime.users import create_user, unlock
from tests.runtime.tui.helpers import PASS, chatting, enter, hold_after_first_token, idle, make_app, say, seed, until


def notices(app) -> list[str]:
    return [str(n.content) for n in app.chat.query(Notice)]


def footer_text(app) -> str:
    return " ".join(f"{key.key_display} {key.description}" for key in app.screen.query_one(Footer).children)


async def test_ctrl_c_stops_the_reply_and_text_sent_meanwhile_stays(app, monkeypatch):
    pressed = hold_after_first_token(monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await until(pilot, lambda: "ctrl+q quit" in footer_text(app), "ctrl+q quit in the footer")
        await enter(pilot, "#chat-input", "tell me a long story")
        await until(pilot, lambda: app.chat.query(Reply) and app.chat.query_one(Reply).text, "the first piece")
        await enter(pilot, "#chat-input", "and one more thing")  # one reply at a time: kept in the box
        box = app.chat.query_one(ChatInput)
        assert box.value == "and one more thing" and len(app.chat.query(Said)) == 1
        await pilot.press("ctrl+c")
        pressed.set()
        await until(pilot, lambda: not app.chat.generating, "the stop")
        await idle(pilot)
        assert app.return_code is None  # stopped the reply, did not quit
        assert app.status.episodes == 0 and box.value == "and one more thing"
        await pilot.press("ctrl+c")  # nothing running now: it says how to quit
        await pilot.pause()
        assert any("ctrl+q" in str(n.message) for n in app._notifications) and app.return_code is None


async def test_too_long_a_message_is_refused_before_it_is_shown_and_stays_in_the_box(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        paste = "word " * (MAX_MESSAGE_CHARS // 5 + 1)
        await enter(pilot, "#chat-input", paste)
        await idle(pilot)
        assert not app.chat.query(Said) and not app.chat.query(Reply)
        assert app.chat.query_one(ChatInput).value == paste
        assert any("not sent" in str(n.title) for n in app._notifications)


async def test_settings_opens_with_its_first_field_focused(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "settings")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "idle-sleep"
        before = app.focused.value
        await pilot.press("end", "0")  # typing changes it at once, no Tab needed
        assert app.focused.value == before + "0"
        await until(pilot, lambda: "ctrl+q quit" in footer_text(app), "ctrl+q quit in the footer")
        assert "f2 memories" not in footer_text(app)


async def test_bare_forget_names_this_conversations_last_exchange_and_shows_the_plan(app, monkeypatch):
    stages: list[str] = []
    shown = WorkScreen.on_work_progressed

    def record(screen, message):
        shown(screen, message)
        stages.append(str(screen.query_one("#work-stage").content))

    monkeypatch.setattr(WorkScreen, "on_work_progressed", record)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await seed(app, "What is a haiku?")
        await enter(pilot, "#chat-input", "/clear")
        await idle(pilot)
        await enter(pilot, "#chat-input", "/forget")
        await idle(pilot)
        assert not isinstance(app.screen, ConfirmScreen) and "nothing said in this conversation" in notices(app)[-1]
        await say(pilot, "my dog is called Rex")
        await enter(pilot, "#chat-input", "/forget")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        text = str(app.screen.query_one("#confirm-text").content)
        assert "“my dog is called Rex”" in text and "haiku" not in text and "step of the log" in text
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, (WorkScreen, ReceiptScreen)), "the work")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
    assert stages and all(s and s != "starting…" for s in stages)
    assert {"measuring what the model holds of it", "shredding", "measuring again, to verify"} <= set(stages)
    assert any(s.startswith("re-learning") for s in stages)


async def test_a_sleep_names_each_stage_from_the_start(app):
    seen: list[str] = []
    async with app.run_test(size=(100, 30), message_hook=lambda m: isinstance(m, SleepProgressed)
                            and seen.append(m.progress.stage)) as pilot:
        await chatting(pilot)
        await say(pilot, "I like green tea")
        app.start_sleep()
        await until(pilot, lambda: app.sleep_progress is None and app.last_sleep is not None, "the sleep")
    assert seen and all(seen)
    assert "dreaming" in seen and seen.index("dreaming") < seen.index("consolidating")


async def test_a_restart_greets_with_what_is_kept(brain, root):
    create_user("ana", PASS, root=root)
    with Assistant.open(unlock("ana", PASS, root=root), brain) as a:
        "".join(a.turn("I like green tea"))
    app = make_app(brain, root, user="ana", passphrase=PASS)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await idle(pilot)
        assert notices(app)[0].startswith("welcome back · 1 memory kept, 1 not slept on yet · never slept yet")


async def test_every_footer_fits_80_columns(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await chatting(pilot)
        await seed(app, "I like green tea")
        for key, screen in [(None, "ChatScreen"), ("f2", "MemoriesScreen"), ("f3", "SleepScreen"),
                            ("f5", "AuditScreen"), ("f6", "SettingsScreen"), ("f1", "HelpScreen")]:
            if key:
                await pilot.press(key)
            await until(pilot, lambda s=screen: type(app.screen).__name__ == s and "quit" in footer_text(app), screen)
            text = footer_text(app)
            assert len(text) <= 80 and "ctrl+q quit" in text, (screen, text)
