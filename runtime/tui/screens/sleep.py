"""Sleep: what is pending, progress while dreaming and consolidating, interrupt, last results."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Label, ProgressBar, Static

from runtime.tui import format as fmt
from runtime.tui.screens.section import Section
from runtime.tui.widgets.status_line import StatusLine

ABOUT = ("Awake, the model learns each exchange in its fast levels. Asleep, it dreams on what you said "
         "(paraphrases, questions and answers) and consolidates it into its slow levels, so it lasts. "
         "It sleeps on its own after a quiet while; whatever you do stops it, and a stopped sleep keeps nothing.")


class SleepScreen(Section):
    BINDINGS = [
        Binding("s", "start", "sleep", id="sleep.start", tooltip="Sleep now"),
        Binding("escape", "back", "back", id="sleep.back", tooltip="Stop the sleep, else back"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusLine()
        with Vertical(id="sleep-body"):
            yield Label("Sleep", classes="header")
            yield Static("", id="sleep-pending", markup=False)
            yield Static(ABOUT, id="sleep-about", classes="hint", markup=False)
            yield Label("", id="sleep-stage")
            yield ProgressBar(total=None, show_eta=False, id="sleep-bar")
            yield Static("", id="sleep-last", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for name in ("status", "sleep_progress", "last_sleep"):
            self.watch(self.app, name, self._show, init=False)
        self._show()

    def _show(self, _value: object = None) -> None:
        app = self.app
        st, progress, last = app.status, app.sleep_progress, app.last_sleep
        if st is not None:
            since = "never slept yet" if st.last_sleep is None else f"last slept {fmt.when(st.last_sleep, app.now())}"
            self.query_one("#sleep-pending", Static).update(
                f"{fmt.plural(st.pending, 'episode')} learned awake, not consolidated yet · "
                f"{st.tokens_since_sleep} tokens since the last sleep · {since}")
        stage, bar = self.query_one("#sleep-stage", Label), self.query_one("#sleep-bar", ProgressBar)
        bar.display = progress is not None
        if progress is not None:
            stage.update(f"sleeping: {fmt.progress(progress)} · esc stops it (nothing of it is kept)")
            if progress.total:
                bar.update(total=progress.total, progress=progress.done)
            else:
                bar.update(total=None)
        elif st is not None and st.pending:
            stage.update("press s to sleep now")
        else:
            stage.update("nothing to sleep on: everything is consolidated")
        text = ""
        if last is not None:
            if last.interrupted:
                text = f"Last sleep was stopped after {last.seconds:.1f} s; nothing of it was kept."
            elif last.episodes == 0:
                text = "Last sleep found nothing pending."
            else:
                text = (f"Last sleep: {fmt.plural(last.episodes, 'episode')}, {fmt.plural(last.dreams, 'dream')}, "
                        f"{last.seconds:.1f} s · state {fmt.short(last.state_hash, 16)}")
        self.query_one("#sleep-last", Static).update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            st = self.app.status
            return self.app.sleep_progress is None and bool(st and st.pending) or None
        return True

    def action_start(self) -> None:
        self.app.start_sleep()

    def action_back(self) -> None:
        if self.app.sleep_progress is not None:
            self.app.interrupt_sleep()
        else:
            self.dismiss()
