"""HopeApp: the screens, the global keys, and the one engine thread that owns the Assistant.

The app decides *when* things happen (a turn, the idle sleep, a forget, closing); what they do is
one call each on the headless API, run on the engine thread (engine.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.worker import WorkerFailed

from runtime import HopeError
from runtime.assistant import Assistant, ForgetPlan, ForgetReceipt, SleepReport, Status
from runtime.brain import Brain
from runtime.failure import debugging, one_line
from runtime.settings import Settings
from runtime.sleep import Progress
from runtime.tui import format as fmt
from runtime.tui.engine import Engine
from runtime.tui.messages import SleepFinished, SleepProgressed, WorkProgressed
from runtime.users import users_dir
from runtime.wording import replay_words

if TYPE_CHECKING:
    from runtime.tui.screens.chat import ChatScreen

KEYMAP_FILE = "keymap.toml"  # in the data directory: [keymap] "app.memories" = "f7"


def local_now() -> datetime:
    return datetime.now().astimezone()


class HopeApp(App[None]):
    """A private assistant in the terminal: chat that learns, and memories one key away."""

    CSS_PATH = "hope.tcss"
    TITLE = "hope"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "help", id="app.help", tooltip="Every key and slash command"),
        Binding("f2", "memories", "memories", id="app.memories", tooltip="Review, redact or forget memories"),
        Binding("f3", "sleep", "sleep", id="app.sleep", tooltip="Consolidate now; see progress"),
        Binding("f4", "incognito", "incognito", id="app.incognito", tooltip="Stop or resume learning"),
        Binding("f5", "audit", "audit", id="app.audit", tooltip="Audit chain and receipts"),
        Binding("f6", "settings", "settings", id="app.settings", tooltip="Sleep, never-learn, retention"),
        Binding("ctrl+q", "quit", "quit", id="app.quit", priority=True, key_display="ctrl+q",
                tooltip="Save, maybe sleep, quit"),
        Binding("ctrl+c", "interrupt", "stop", id="app.interrupt", priority=True, show=False,
                tooltip="Stop the reply or the sleep (again: how to quit)"),
    ]

    status: reactive[Status | None] = reactive(None, always_update=True)
    settings: reactive[Settings | None] = reactive(None)
    sleep_in: reactive[float | None] = reactive(None)  # seconds until the idle sleep; None: nothing pending
    sleep_progress: reactive[Progress | None] = reactive(None)  # set while a sleep runs
    last_sleep: reactive[SleepReport | None] = reactive(None)
    brain_note: reactive[str] = reactive("loading the model…")

    def __init__(self, *, root: Path | None = None, brain_factory: Callable[[], Brain] = Brain.default,
                 user: str | None = None, passphrase: str | None = None, assistant: Assistant | None = None,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = local_now,
                 keymap: dict[str, str] | None = None, precision: str | None = None,
                 accept_older_store: bool = False) -> None:
        """``root`` is the data directory (None: $HOPE_DATA_DIR or the platform's); ``assistant``
        skips unlocking (scripts, tests); ``clock`` must be the one the assistant was opened with."""
        super().__init__()
        self.root = root
        self.brain_factory = brain_factory
        self.user = user
        self.passphrase = passphrase
        self.precision = precision  # None: the user's setting
        self.clock = clock
        self.now = now
        self.engine = Engine(assistant)
        self.keymap = dict(keymap or {})
        self.accept_older_store = accept_older_store  # `hope --accept-older-store app`: a restored backup
        self.chat: ChatScreen | None = None  # once a user is unlocked
        self.brain: Brain | None = assistant.brain if assistant is not None else None
        self._brain_ready = threading.Event()
        self._last_input = clock()
        self._status_at = clock()
        self._status_fresh = False
        self._sleep_stop: threading.Event | None = None
        self._sleep_auto = False
        self._quitting = False
        self.error_line: str | None = None  # why the app stopped, for `hope app` to print once the screen is gone

    # -- start-up -------------------------------------------------------------------------------

    def _load_keymap(self) -> None:
        path = users_dir(self.root).parent / KEYMAP_FILE
        if path.is_file():
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8")).get("keymap", {})
                self.keymap = {str(k): str(v) for k, v in table.items()} | self.keymap
            except (OSError, tomllib.TOMLDecodeError) as err:
                self.notify(f"{path} was not read: {err}", severity="warning")
        if self.keymap:
            self.set_keymap(self.keymap)

    async def on_mount(self) -> None:
        from runtime.tui.screens.unlock import UnlockScreen

        self._load_keymap()
        self.set_interval(1.0, self.count_down)
        if self.engine.is_open:
            self._brain_ready.set()
            await self._opened()
            return
        self._load_brain()
        await self.push_screen(UnlockScreen())

    def _handle_exception(self, error: Exception) -> None:
        """Replaces Textual's crash report, which prints every frame's locals (the passphrase, data
        keys, other memories' text): the app keeps one line in ``error_line`` and exits with status 1.
        $HOPE_DEBUG=1 prints the traceback, still without locals."""
        cause = error.error if isinstance(error, WorkerFailed) else error
        if self.error_line is None:
            self.error_line = one_line(cause)
        if debugging():
            from rich.traceback import Traceback

            self.panic(Traceback(show_locals=False))
        self._return_code = 1
        if self._exception is None:  # Pilot re-raises the first failure in tests, as Textual does
            self._exception = error
            self._exception_event.set()
        self._close_messages_no_wait()

    @work(group="brain")
    async def _load_brain(self) -> None:
        try:
            self.brain = await self.engine.run(self.brain_factory)
            self.brain_note = f"model: {self.brain.name}"
        except HopeError as err:
            self.brain_note = f"the model could not be loaded: {err}"
        finally:
            self._brain_ready.set()

    @work(group="open", exclusive=True, description="open the unlocked store")
    async def open_vault(self, vault, screen) -> None:
        """Open the unlocked user's assistant (once the model has loaded), then show the chat. Runs
        as the app's worker: the unlock screen that asked is replaced on success, told on failure."""
        await asyncio.to_thread(self._brain_ready.wait)
        brain = self.brain
        if brain is None:
            screen.failed(self.brain_note)
            return

        def job() -> None:
            self.engine.assistant = Assistant.open(vault, brain, clock=self.clock, precision=self.precision,
                                                   on_progress=lambda p: screen.post_message(WorkProgressed(p)),
                                                   accept_older_store=self.accept_older_store)

        try:
            await self.engine.run(job)
        except HopeError as err:
            screen.failed(str(err))
            return
        await self._opened()

    async def _opened(self) -> None:
        from runtime.tui.screens.chat import ChatScreen

        self.settings = await self.engine.call(lambda a: a.settings)
        await self._fetch_status()
        self._last_input = self.clock()
        self.chat = ChatScreen()
        if len(self.screen_stack) > 1:
            await self.switch_screen(self.chat)
        else:
            await self.push_screen(self.chat)

    # -- status and the idle sleep --------------------------------------------------------------

    async def _fetch_status(self) -> None:
        self._status_fresh = False
        self.status = await self.engine.call(lambda a: a.status())
        self._status_at = self.clock()
        self._status_fresh = True
        self.count_down()

    @work(group="status")
    async def refresh_status(self) -> None:
        """Ask the engine for its status after anything that changed it (queued behind that job)."""
        if self.engine.is_open:
            await self._fetch_status()

    def count_down(self) -> None:
        """Count down to the idle sleep; start it when both the engine and the keyboard were quiet."""
        st, settings = self.status, self.settings
        if st is None or settings is None or st.seconds_until_sleep is None or self._quitting:
            self.sleep_in = None
            return
        now = self.clock()
        engine_left = st.seconds_until_sleep - (now - self._status_at)
        keys_left = settings.idle_sleep_seconds - (now - self._last_input)
        self.sleep_in = max(0.0, engine_left, keys_left)
        if (self.sleep_in == 0 and self.sleep_progress is None and self._status_fresh and not self.engine.busy
                and not isinstance(self.screen, ModalScreen)):
            self.start_sleep(auto=True)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self._last_input = self.clock()
            if self.sleep_progress is not None and self._sleep_auto:
                self.interrupt_sleep()  # the person is back: an idle sleep gives way
        await super().on_event(event)

    def start_sleep(self, *, auto: bool = False) -> bool:
        """Sleep on what is pending in the engine thread; False if a sleep is already running."""
        if self.sleep_progress is not None or not self.engine.is_open or self._quitting:
            return False
        stop = threading.Event()
        self._sleep_stop, self._sleep_auto = stop, auto
        self.sleep_progress = Progress("starting", 0, 0)

        def job(a: Assistant) -> None:
            try:
                report = a.sleep(on_progress=lambda p: self.post_message(SleepProgressed(p)), should_stop=stop.is_set)
            except HopeError as err:
                self.post_message(SleepFinished(None, str(err)))
            else:
                self.post_message(SleepFinished(report))

        self.run_worker(self.engine.call(job), group="sleep")
        return True

    def interrupt_sleep(self) -> None:
        """Ask a running sleep to stop at its next safe point; it then commits nothing."""
        if self._sleep_stop is not None:
            self._sleep_stop.set()

    def on_sleep_progressed(self, message: SleepProgressed) -> None:
        if self.sleep_progress is not None:
            self.sleep_progress = message.progress

    def on_sleep_finished(self, message: SleepFinished) -> None:
        self.sleep_progress = None
        self._sleep_stop = None
        if message.error:
            self._last_input = self.clock()  # wait a whole idle period before trying again
            self.notify(message.error, title="sleep failed", severity="error")
        if message.report is not None:
            self.last_sleep = message.report
            if message.report.interrupted and self._sleep_auto:
                self.notify("Sleep gave way to you; nothing of it was kept. It starts again when idle.",
                            title="sleep interrupted")
        self.refresh_status()

    # -- actions shared by screens --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action not in ("quit", "interrupt"):
            return False  # a question or a job in progress owns the screen until it is answered or done
        if action in ("memories", "sleep", "incognito", "audit", "settings"):
            return self.engine.is_open and self.chat is not None and not self._quitting
        return True

    async def _goto(self, screen_type: type) -> None:
        """Show a section over the chat: whatever else was open closes first."""
        if isinstance(self.screen, screen_type):
            return
        while len(self.screen_stack) > 2 and self.screen is not self.chat:
            await self.pop_screen()
        await self.push_screen(screen_type())

    async def action_help(self) -> None:
        from runtime.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            await self.push_screen(HelpScreen())

    async def action_memories(self) -> None:
        from runtime.tui.screens.memories import MemoriesScreen

        await self._goto(MemoriesScreen)

    async def action_sleep(self) -> None:
        from runtime.tui.screens.sleep import SleepScreen

        await self._goto(SleepScreen)

    async def action_audit(self) -> None:
        from runtime.tui.screens.audit import AuditScreen

        await self._goto(AuditScreen)

    async def action_settings(self) -> None:
        from runtime.tui.screens.settings import SettingsScreen

        await self._goto(SettingsScreen)

    def action_interrupt(self) -> None:
        """Ctrl-C, as in other local chat tools: stop what is running (a reply, a sleep); with nothing
        running, say how to quit (quitting saves, and may sleep first, so it has its own key)."""
        if self.chat is not None and self.chat.generating:
            self.chat.stop_generating()
        elif self.sleep_progress is not None:
            self.interrupt_sleep()
        else:
            self.notify("Press ctrl+q to save and quit.", title="Quit?")

    def action_incognito(self) -> None:
        self.set_incognito(None)

    @work(group="incognito")
    async def set_incognito(self, on: bool | None) -> None:
        """Turn incognito on, off, or (None) over; the chat says what that means from here on."""
        def job(a: Assistant) -> bool:
            a.incognito = (not a.incognito) if on is None else on
            return a.incognito

        now_on = await self.engine.call(job)
        if self.chat is not None:
            self.chat.incognito_changed(now_on)
        self.refresh_status()

    async def _leave(self, screen: Screen | None) -> None:
        """Close ``screen`` and whatever is above it (a detail view whose episode is going away)."""
        if screen is not None and screen in self.screen_stack:
            while self.screen is not screen:
                await self.pop_screen()
            await self.pop_screen()

    @work(group="ask")
    async def ask_forget(self, ids: Sequence[str], leave: Screen | None = None) -> None:
        """Ask (naming each memory and showing the engine's plan), then forget behind a progress screen."""
        from runtime.tui.screens.confirm import ConfirmScreen, forget_wording

        ids = list(ids)
        plan = await self.engine.call(lambda a: a.forget_plan(ids))
        title, lines = forget_wording(plan, self.now())
        if await self.push_screen_wait(ConfirmScreen(title, lines, "Forget")):
            self._erase(f"Forgetting {fmt.plural(len(ids), 'memory', 'memories')}…", "nothing was forgotten",
                        lambda a, report: a.forget(ids, on_progress=report), leave, plan)

    @work(group="ask")
    async def ask_redact(self, rid: str, text: str, spans: Sequence[tuple[int, int]],
                         leave: Screen | None = None) -> None:
        """Ask (the text as it will read, the engine's plan), then redact behind a progress screen."""
        from runtime.tui.screens.confirm import ConfirmScreen, redact_wording

        spans = list(spans)
        plan = await self.engine.call(lambda a: a.forget_plan([rid], redacting=True))
        title, lines = redact_wording(plan, text, spans)
        if await self.push_screen_wait(ConfirmScreen(title, lines, "Redact")):
            self._erase("Redacting…", "nothing was redacted",
                        lambda a, report: a.redact(rid, spans, on_progress=report), leave, plan)

    @work(group="forget")
    async def _erase(self, title: str, refused: str, call: Callable[[Assistant, Callable], ForgetReceipt],
                     leave: Screen | None, plan: ForgetPlan) -> None:
        from runtime.tui.screens.receipt import ReceiptScreen, WorkScreen

        await self._leave(leave)
        busy = WorkScreen(title, note=f"The model {replay_words(plan)}.")
        await self.push_screen(busy)
        try:
            receipt = await self.engine.call(lambda a: call(a, busy.report))
        except HopeError as err:
            self.notify(str(err), title=refused, severity="error")
            return
        finally:
            await busy.dismiss()
        self.refresh_status()
        if self.chat is not None:
            self.chat.forgotten()
        await self.push_screen(ReceiptScreen(receipt))

    async def update_settings(self, **changes: object) -> Settings:
        """Apply setting changes (HopeError if a value is refused); the retention policy runs at once."""
        self.settings = await self.engine.call(lambda a: a.update_settings(**changes))
        self.refresh_status()
        return self.settings

    # -- closing --------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if not self.engine.is_open or self.chat is None:
            self.exit()
            return
        if self._quitting:
            return
        self._quitting = True
        self.chat.stop_generating()
        self.interrupt_sleep()
        self._close()

    @work(group="close")
    async def _close(self) -> None:
        """Close the engine, which sleeps first when enough is pending; esc cuts that sleep short."""
        from runtime.tui.screens.receipt import WorkScreen

        pending = await self.engine.call(lambda a: a.pending_for_exit_sleep())
        if pending:
            stop = threading.Event()
            busy = WorkScreen(f"Sleeping on {pending} new memories before closing…", stop=stop)
            await self.push_screen(busy)
            await self.engine.call(lambda a: a.close(on_progress=busy.report, should_stop=stop.is_set))
            self.engine.assistant = None
        await self._close_engine()
        self.exit()

    async def _close_engine(self) -> None:
        if self.engine.is_open:
            await self.engine.call(lambda a: a.close(sleep=False))
            self.engine.assistant = None

    async def on_unmount(self) -> None:
        """However the app ends, the store is saved and released."""
        try:
            if self.chat is not None:
                self.chat.stop_generating()
            self.interrupt_sleep()
            await self._close_engine()
        finally:
            self.engine.shutdown()
