"""Chat, the home screen: streamed replies, slash commands, and the status line above."""

from __future__ import annotations

import threading
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from runtime import HopeError
from runtime.assistant import MAX_MESSAGE_CHARS, Assistant, Status
from runtime.tui import format as fmt
from runtime.tui.messages import ReplyStreamed, TurnEnded
from runtime.tui.widgets.chat_input import ChatInput
from runtime.tui.widgets.status_line import StatusLine
from runtime.tui.widgets.transcript import Reply, Transcript

INCOGNITO_ON = "····· incognito: nothing from here on is learned or stored ·····"
INCOGNITO_OFF = "····· learning again: what you say from here on is stored and learned ·····"
PLACEHOLDER = "Say something, or /help"
STOP_HINT = "esc or ctrl+c stops the reply (it is not kept)"
COMMANDS = {
    "/forget": "forget the last exchange of this conversation (asks first)",
    "/incognito": "incognito on or off (/incognito on|off)",
    "/sleep": "consolidate now, and show sleep",
    "/memories": "review what was kept",
    "/clear": "a new conversation (what was learned stays)",
    "/help": "every key and command",
    "/bye": "save and quit",
}


def greeting(status: Status, now: datetime) -> str:
    """What a returning person sees first: what is kept, what awaits sleep, when it last slept."""
    slept = "never slept yet" if status.last_sleep is None else f"last slept {fmt.when(status.last_sleep, now)}"
    return (f"welcome back · {fmt.plural(status.episodes, 'memory', 'memories')} kept, "
            f"{status.pending} not slept on yet · {slept} · f2 shows them")


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "stop", id="chat.stop", show=False, tooltip="Stop the reply (it is not kept)"),
    ]
    AUTO_FOCUS = "#chat-input"

    def __init__(self) -> None:
        super().__init__()
        self.generating = False
        self._stop: threading.Event | None = None
        self._reply: Reply | None = None

    def compose(self) -> ComposeResult:
        # Here, not in on_mount: the screen can show (and take focus) before its mount handler runs.
        status = self.app.status
        self.set_class(bool(status and status.incognito), "incognito")
        yield StatusLine()
        yield Transcript(id="transcript")
        yield ChatInput(placeholder=PLACEHOLDER, id="chat-input")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        status = self.app.status
        if status and status.episodes:
            self.run_worker(self.query_one(Transcript).notice(greeting(status, self.app.now())))
        if status and status.incognito:
            self.run_worker(self.query_one(Transcript).notice(INCOGNITO_ON, "incognito"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return True if self.generating else None  # shown greyed out while nothing is generating
        return True

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    # -- turns ----------------------------------------------------------------------------------

    async def on_input_submitted(self, event: ChatInput.Submitted) -> None:
        """Send, or say why not and leave the text in the box to edit or send later."""
        text = event.value.strip()
        if not text:
            return
        if not text.startswith("/"):
            if len(text) > MAX_MESSAGE_CHARS:
                self.notify(f"That is {len(text):,} characters; a message can have {MAX_MESSAGE_CHARS:,}. "
                            "It is still in the box: shorten it or send it in parts.", severity="error",
                            title="not sent")
                return
            if self.generating:
                self.notify("One reply at a time: your text stays in the box; esc or ctrl+c stops the reply.")
                return
        box = self.query_one(ChatInput)
        box.value = ""
        box.remember(text)
        if text.startswith("/"):
            await self.command(text)
        else:
            await self.send(text)

    async def send(self, text: str) -> None:
        """Start a turn on the engine thread; a running sleep is interrupted first (it keeps nothing)."""
        app = self.app
        if app.sleep_progress is not None:
            app.interrupt_sleep()
            await self.transcript.notice("sleep stopped for you; nothing of it was kept, it starts again when idle")
        await self.transcript.said(text)
        self._reply = await self.transcript.reply()
        self.generating = True
        self.query_one(ChatInput).placeholder = STOP_HINT
        self.refresh_bindings()
        stop = self._stop = threading.Event()
        self.run_worker(app.engine.call(lambda a: self._turn(a, text, stop)), group="turn")

    def _turn(self, a: Assistant, text: str, stop: threading.Event) -> None:
        """On the engine thread: stream the reply as messages; closing the stream early keeps nothing."""
        stream = a.turn(text)
        try:
            for piece in stream:
                self.post_message(ReplyStreamed(piece))
                if stop.is_set():
                    stream.close()
                    self.post_message(TurnEnded(kept=False, stopped=True))
                    return
        except HopeError as err:
            self.post_message(TurnEnded(kept=False, error=str(err)))
            return
        self.post_message(TurnEnded(kept=not a.incognito))

    async def on_reply_streamed(self, message: ReplyStreamed) -> None:
        if self._reply is not None:
            await self._reply.write(message.piece)

    async def on_turn_ended(self, message: TurnEnded) -> None:
        reply, self._reply = self._reply, None
        self.generating = False
        self.query_one(ChatInput).placeholder = PLACEHOLDER
        self._stop = None
        self.refresh_bindings()
        if reply is not None:
            if message.error:
                await reply.remove()
                await self.transcript.notice(message.error, "error")
            else:
                await reply.finish("stopped: this turn was not kept" if message.stopped else None)
        self.app.refresh_status()

    def action_stop(self) -> None:
        self.stop_generating()

    def stop_generating(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # -- what the app tells the chat ------------------------------------------------------------

    def incognito_changed(self, on: bool) -> None:
        self.set_class(on, "incognito")
        self.run_worker(self.transcript.notice(INCOGNITO_ON if on else INCOGNITO_OFF, "incognito" if on else ""))

    def forgotten(self) -> None:
        """The engine cleared the conversation's context (it could quote what was forgotten): so does the screen."""
        async def clear() -> None:
            await self.transcript.remove_children()
            await self.transcript.notice(
                "····· forgotten: this conversation's context was cleared too, since it could quote it ·····")

        self.run_worker(clear(), group="clear")

    # -- slash commands -------------------------------------------------------------------------

    async def command(self, text: str) -> None:
        name, _, arg = text.partition(" ")
        name, arg = name.lower(), arg.strip().lower()
        app = self.app
        if name in ("/bye", "/exit", "/quit"):
            await app.action_quit()
        elif name in ("/help", "/?"):
            await app.action_help()
        elif name == "/memories":
            await app.action_memories()
        elif name == "/sleep":
            app.start_sleep()
            await app.action_sleep()
        elif name == "/incognito":
            if arg not in ("", "on", "off"):
                await self.transcript.notice("use /incognito, /incognito on or /incognito off", "error")
                return
            app.set_incognito(None if not arg else arg == "on")
        elif name == "/clear":
            self.run_worker(self._clear(), group="clear")
        elif name == "/forget":
            self._forget_newest()
        else:
            listing = "  ".join(COMMANDS)
            await self.transcript.notice(f"unknown command {name}; commands: {listing}", "error")

    async def _clear(self) -> None:
        if self.generating:
            self.notify("Stop the reply first (esc).")
            return
        await self.app.engine.call(lambda a: a.new_session())
        await self.transcript.remove_children()
        await self.transcript.notice("new conversation: the context is empty; what the model learned stays")
        self.app.refresh_status()
        status = await self.app.engine.call(lambda a: a.incognito)
        self.set_class(status, "incognito")
        if status:
            await self.transcript.notice(INCOGNITO_ON, "incognito")

    def _forget_newest(self) -> None:
        """Bare /forget: the last exchange of this conversation, named and asked about; never an
        older memory from another conversation (those are one f2 away)."""
        async def ask() -> None:
            last = await self.app.engine.call(lambda a: a.last_episode())
            if last is None:
                await self.transcript.notice("nothing said in this conversation is kept, so /forget has nothing "
                                             "to forget here; older memories are in memories (f2)", "error")
                return
            self.app.ask_forget([last.id])

        self.run_worker(ask(), group="ask")
