"""Chat: streamed Markdown replies that are recorded and learned, incognito, stop, slash commands."""

from __future__ import annotations

from textual.widgets import Markdown

from runtime.tui.messages import ReplyStreamed
from runtime.tui.screens.confirm import ConfirmScreen
from runtime.tui.screens.help import HelpScreen
from runtime.tui.screens.memories import MemoriesScreen
from runtime.tui.screens.receipt import ReceiptScreen
from runtime.tui.widgets.chat_input import ChatInput
from runtime.tui.widgets.status_line import StatusLine
from runtime.tui.widgets.transcript import Notice, Reply, Said
from tests.runtime.tui.helpers import chatting, enter, exited, hold_after_first_token, idle, say, until


def status_text(app) -> str:
    line = app.screen.query_one(StatusLine)
    return " ".join(str(label.content) for label in line.query("Label"))


def notices(app) -> list[str]:
    return [str(n.content) for n in app.chat.query(Notice)]


async def test_a_reply_streams_into_markdown_and_the_turn_is_learned(app):
    seen: dict[int, ReplyStreamed] = {}  # the hook sees a message at each pump it passes through
    async with app.run_test(size=(100, 30), message_hook=lambda m: isinstance(m, ReplyStreamed)
                            and seen.setdefault(id(m), m)) as pilot:
        await chatting(pilot)
        before = app.status.state_hash
        assert "learning ●" in status_text(app)
        await say(pilot, "my sister Lena moved to **Bergen**")
        said, reply = app.chat.query_one(Said), app.chat.query_one(Reply)
        assert said.text == "my sister Lena moved to **Bergen**"  # what you typed is never read as markup
        streamed = [m.piece for m in seen.values()]
        assert len(streamed) > 1 and reply.text == "".join(streamed)
        assert reply.query_one(Markdown).source.strip() == reply.text.strip()
        rows = await app.engine.call(lambda a: a.memories())
        assert [r.preview for r in rows] == ["my sister Lena moved to **Bergen**"]
        assert (await app.engine.call(lambda a: a.episode(rows[0].id))).reply == reply.text
        assert app.status.episodes == 1 and app.status.tokens_since_sleep > 0 and app.status.state_hash != before
        assert f"{app.status.tokens_since_sleep} tok since sleep" in status_text(app)


async def test_incognito_stores_and_learns_nothing_and_says_so(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        before = app.status.state_hash
        await pilot.press("f4")
        await until(pilot, lambda: app.status.incognito, "incognito")
        assert "incognito" in notices(app)[-1] and "nothing from here on is learned or stored" in notices(app)[-1]
        assert "not learning" in status_text(app) and app.chat.has_class("incognito")
        await say(pilot, "something private")
        assert app.chat.query_one(Reply).text  # it answered
        assert app.status.episodes == 0 and app.status.state_hash == before
        await enter(pilot, "#chat-input", "/incognito off")
        await until(pilot, lambda: not app.status.incognito, "learning again")
        assert "learning again" in notices(app)[-1]


async def test_esc_stops_the_reply_and_that_turn_is_not_kept(app, monkeypatch):
    """The model is held after its first token until the test has pressed esc, so the stop lands mid-reply."""
    pressed = hold_after_first_token(monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await enter(pilot, "#chat-input", "tell me a long story")
        await until(pilot, lambda: app.chat.query(Reply) and app.chat.query_one(Reply).text, "the first piece")
        assert app.chat.check_action("stop", ()) is True
        await pilot.press("escape")
        pressed.set()
        await until(pilot, lambda: not app.chat.generating, "the stop")
        await idle(pilot)
        assert "not kept" in app.chat.query_one(Reply).query_one(Markdown).source
        assert app.status.episodes == 0
        assert await app.engine.call(lambda a: a.memories()) == []


async def test_slash_commands(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await enter(pilot, "#chat-input", "/frobnicate")
        assert "unknown command /frobnicate" in notices(app)[-1] and "/forget" in notices(app)[-1]
        await enter(pilot, "#chat-input", "/help")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("escape")
        await enter(pilot, "#chat-input", "/memories")
        await until(pilot, lambda: isinstance(app.screen, MemoriesScreen), "memories")
        await pilot.press("escape")
        await enter(pilot, "#chat-input", "/incognito on")
        await until(pilot, lambda: app.status.incognito, "incognito")
        await enter(pilot, "#chat-input", "/clear")
        await until(pilot, lambda: not app.status.incognito, "a new conversation")  # back to the default
        assert not app.chat.query(Said) and "new conversation" in notices(app)[0]
        box = app.chat.query_one(ChatInput)
        await pilot.press("up")
        assert box.value == "/clear"
        await pilot.press("up", "up", "down")
        assert box.value == "/incognito on"
        box.value = "/bye"
        await box.action_submit()  # not pilot.press: it would wait on a screen that is going away
        await exited(app)
    assert not app.engine.is_open  # the store was saved and released


async def test_forget_command_forgets_the_newest_memory_after_asking(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        await say(pilot, "I like green tea")
        await say(pilot, "my dog is called Rex")
        await enter(pilot, "#chat-input", "/forget")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        text = str(app.screen.query_one("#confirm-text").content)
        assert "“my dog is called Rex”" in text and "cannot be undone" in text and "green tea" not in text
        assert "re-learns 1 episode (1 step of the log" in text  # the engine's plan: no checkpoint yet
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
        receipt = str(app.screen.query_one("#receipt").content).lower()
        assert "1 step of the log re-learned" in receipt and "verified: the model now holds it no more" in receipt
        await pilot.press("enter")
        await idle(pilot)
        rows = await app.engine.call(lambda a: a.memories())
        assert [r.preview for r in rows] == ["I like green tea"]
        assert "forgotten" in notices(app)[-1]
