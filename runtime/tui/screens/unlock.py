"""Unlock a user with their passphrase, or create one (passphrase twice); Argon2id runs with progress."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Input, Label, ProgressBar, Select, Static

from privacy import WrongPassphrase
from runtime import HopeError
from runtime.sleep import Progress
from runtime.tui import format as fmt
from runtime.tui.messages import WorkProgressed
from runtime.users import MIN_PASSPHRASE, create_user, list_users, unlock

CREATE_NOTE = ("Your memories are encrypted under a key made from this passphrase (Argon2id). "
               "Nobody can recover them without it, not even you.")


class UnlockScreen(Screen):
    """Shown at start: unlock an existing user, or create the first one."""

    def __init__(self) -> None:
        super().__init__()
        self.users: list[str] = []
        self._secret = ""  # handed from _go_with to the _go worker, then cleared

    def compose(self) -> ComposeResult:
        app = self.app
        users = self.users = list_users(app.root)
        chosen = app.user if app.user in users else (users[0] if users else None)
        with Center(id="unlock-center"):
            with Vertical(id="unlock-box", classes="dialog"):
                yield Label("hope", classes="dialog-title")
                yield Label("a private assistant that learns on this machine", classes="hint")
                with ContentSwitcher(initial="unlock-form" if users else "create-form", id="unlock-switcher"):
                    with Vertical(id="unlock-form"):
                        if len(users) > 1:
                            yield Select([(u, u) for u in users], value=chosen, allow_blank=False, id="user-select")
                        else:
                            yield Label(f"user: {chosen}", id="user-name")
                        yield Input(password=True, placeholder="passphrase", id="passphrase", compact=True)
                        with Horizontal(classes="buttons"):
                            yield Button("Unlock", variant="primary", id="unlock", compact=True)
                            yield Button("New user", id="to-create", compact=True)
                    with Vertical(id="create-form"):
                        yield Input(app.user if app.user and app.user not in users else "",
                                    placeholder="your name (letters, digits, . _ -)", id="new-name", compact=True)
                        yield Input(password=True, placeholder=f"passphrase (at least {MIN_PASSPHRASE} characters)",
                                    id="new-passphrase", compact=True)
                        yield Input(password=True, placeholder="the same passphrase again", id="new-confirm",
                                    compact=True)
                        yield Static(CREATE_NOTE, classes="hint", markup=False)
                        with Horizontal(classes="buttons"):
                            yield Button("Create", variant="primary", id="create", compact=True)
                            if users:
                                yield Button("Back", id="to-unlock", compact=True)
                yield ProgressBar(total=None, show_eta=False, id="unlock-progress")
                yield Label("", id="unlock-message")
                yield Label(app.brain_note, id="brain-note", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#unlock-progress").display = False
        self.watch(self.app, "brain_note", lambda note: self.query_one("#brain-note", Label).update(note))
        app = self.app
        if self.users:
            self.query_one("#passphrase", Input).focus()
            if app.passphrase and (app.user in self.users or len(self.users) == 1):
                self._go_with(self._user(), app.passphrase, create=False)
        else:
            name = self.query_one("#new-name", Input)
            if app.user and app.passphrase:  # a script names a new user and gives the passphrase
                self.query_one("#new-passphrase", Input).value = app.passphrase
                self.query_one("#new-confirm", Input).value = app.passphrase
                self.query_one("#create", Button).focus()
            else:
                (self.query_one("#new-passphrase", Input) if name.value else name).focus()

    def _user(self) -> str:
        if len(self.users) > 1:
            return str(self.query_one("#user-select", Select).value)
        return self.users[0]

    def _say(self, text: str, kind: str = "") -> None:
        label = self.query_one("#unlock-message", Label)
        label.update(text)
        label.set_class(kind == "error", "error")

    # -- events ---------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        switcher = self.query_one(ContentSwitcher)
        if event.button.id == "to-create":
            switcher.current = "create-form"
            self.query_one("#new-name", Input).focus()
        elif event.button.id == "to-unlock":
            switcher.current = "unlock-form"
            self.query_one("#passphrase", Input).focus()
        elif event.button.id == "unlock":
            self._submit_unlock()
        elif event.button.id == "create":
            self._submit_create()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "passphrase":
            self._submit_unlock()
        elif event.input.id == "new-name":
            self.query_one("#new-passphrase", Input).focus()
        elif event.input.id == "new-passphrase":
            self.query_one("#new-confirm", Input).focus()
        elif event.input.id == "new-confirm":
            self._submit_create()

    def _submit_unlock(self) -> None:
        passphrase = self.query_one("#passphrase", Input).value
        if not passphrase:
            self._say("Type your passphrase.", "error")
            return
        self._go_with(self._user(), passphrase, create=False)

    def _submit_create(self) -> None:
        name = self.query_one("#new-name", Input).value.strip()
        first = self.query_one("#new-passphrase", Input).value
        second = self.query_one("#new-confirm", Input).value
        if not name:
            self._say("Choose a name.", "error")
        elif first != second:
            self._say("The two passphrases differ; type them again.", "error")
            self.query_one("#new-confirm", Input).value = ""
            self.query_one("#new-passphrase", Input).value = ""
            self.query_one("#new-passphrase", Input).focus()
        else:
            self._go_with(name, first, create=True)

    # -- the work -------------------------------------------------------------------------------

    def _busy(self, on: bool) -> None:
        self.query_one("#unlock-progress").display = on
        for widget in self.query("Input, Button, Select"):
            widget.disabled = on

    def _go_with(self, name: str, passphrase: str, *, create: bool) -> None:
        """Start `_go` without the passphrase among the worker's arguments (Textual lists those in
        the worker's description and its logs); the worker takes it from here once."""
        self._secret = passphrase
        self._go(name, create=create)

    @work(exclusive=True, group="unlock", description="unlock")
    async def _go(self, name: str, *, create: bool) -> None:
        """Derive the key off the UI loop, then open the assistant (which waits for the model)."""
        app = self.app
        passphrase, self._secret = self._secret, ""
        self._busy(True)
        self._say("creating your encrypted store (Argon2id)…" if create else "deriving your key (Argon2id)…")

        def kdf(step: str, done: int, total: int) -> None:
            self.post_message(WorkProgressed(Progress(step, done, total)))

        try:
            opener = create_user if create else unlock
            vault = await asyncio.to_thread(opener, name, passphrase, root=app.root, on_progress=kdf)
        except WrongPassphrase:
            self._busy(False)
            self._say(f"Wrong passphrase for {name}. Nothing was changed; try again.", "error")
            box = self.query_one("#passphrase", Input)
            box.value = ""
            box.focus()
            return
        except HopeError as err:
            self._busy(False)
            self._say(str(err), "error")
            return
        self._say("opening your memories…" if app.brain is not None else "waiting for the model to load…")
        app.open_vault(vault, self)

    def failed(self, error: str) -> None:
        """The app could not open the unlocked store (or load the model)."""
        self._busy(False)
        self._say(error, "error")

    def on_work_progressed(self, message: WorkProgressed) -> None:
        p = message.progress
        if p.total:
            self.query_one("#unlock-progress", ProgressBar).update(total=p.total, progress=p.done)
        if p.stage == "replaying" and p.total:
            self._say(f"opening your memories: {fmt.progress(p)}")
