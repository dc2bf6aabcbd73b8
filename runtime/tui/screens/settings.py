"""Settings: idle time before sleep, never-learn categories, retention policy, incognito default, model."""

from __future__ import annotations

from datetime import timedelta

from rich.segment import Segment
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.strip import Strip
from textual.widgets import Button, Checkbox, Footer, Input, Label, SelectionList, Static
from textual.widgets.option_list import OptionDoesNotExist

from privacy.redact import CATEGORIES
from runtime import HopeError
from runtime.assistant import MemoryRow
from runtime.settings import Settings
from runtime.tui import format as fmt
from runtime.tui.screens.confirm import ConfirmScreen
from runtime.tui.screens.section import Section


def _number(value: int | None, widget_id: str) -> Input:
    return Input("" if value is None else str(value), type="integer", placeholder="keep", id=widget_id, compact=True)


def _row(label: str, widget, hint: str = "") -> Horizontal:
    return Horizontal(Label(label, classes="setting-label"), widget, Label(hint, classes="hint"),
                      classes="setting")


def _same(old: object, new: object) -> bool:
    """Category lists are sets to the person: a different order is no change."""
    if isinstance(old, tuple) and isinstance(new, tuple):
        return set(old) == set(new)
    return old == new


def retention_victims(rows: list[MemoryRow], settings: Settings, now) -> list[MemoryRow]:
    """Episodes a retention policy would forget today (shown before the change is saved)."""
    days, categories = settings.retention_days, set(settings.forget_categories)
    return [r for r in rows if (days is not None and now - r.when > timedelta(days=days)) or categories & set(r.flags)]


class Tick(Checkbox):
    """A checkbox whose mark is gone when unticked, not only dimmer: it reads the same without colour."""

    def render(self):
        self.BUTTON_INNER = "X" if self.value else " "
        return super().render()


class Ticks(SelectionList[str]):
    """A selection list whose unticked items show an empty box, like Tick."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if option.value in self.selected or len(segments) < 2 or segments[1].text != Checkbox.BUTTON_INNER:
            return strip
        segments[1] = Segment(" ", segments[1].style)
        return Strip(segments, strip.cell_length)


LEARNED_BY_DEFAULT = ("Email addresses, phone numbers and street addresses are learned by default: an assistant "
                      "that learns should remember where your sister lives if you tell it, and everything stays "
                      "encrypted on this machine. Card numbers, IBANs, ID numbers and secrets are never learned "
                      "by default. Tick a category to learn a placeholder instead.")


class SettingsScreen(Section):
    AUTO_FOCUS = "#idle-sleep"
    BINDINGS = [
        Binding("ctrl+s", "save", "save", id="settings.save", tooltip="Apply the changes"),
        Binding("escape", "back", "back", id="settings.back", tooltip="Back; unsaved changes drop"),
    ]

    def compose(self) -> ComposeResult:
        s = self.app.settings or Settings()
        with VerticalScroll(id="settings-body"):
            yield Label("Settings · kept encrypted in your store", classes="header")
            yield _row("sleep when idle for", _number(s.idle_sleep_seconds, "idle-sleep"), "seconds (10 or more)")
            yield _row("sleep on quit from", _number(s.sleep_on_exit_min, "exit-sleep"), "pending episodes (0: never)")
            yield _row("forget after", _number(s.retention_days, "retention-days"), "days (empty: keep)")
            yield Tick("start incognito: new conversations store and learn nothing", s.incognito_default,
                           id="incognito-default", compact=True)
            yield Tick("keep raw text: also store what was typed before never-learn", s.keep_raw_text,
                           id="keep-raw", compact=True)
            with Horizontal(id="settings-lists"):
                with Vertical():
                    yield Label("never learn (placeholder instead)", classes="section")
                    yield Ticks(*[(c, c, c in s.never_learn) for c in CATEGORIES], id="never-learn",
                                             compact=True)
                with Vertical():
                    yield Label("forget whatever is flagged", classes="section")
                    yield Ticks(*[(c, c, c in s.forget_categories) for c in CATEGORIES],
                                             id="forget-categories", compact=True)
            yield Static(LEARNED_BY_DEFAULT, classes="hint", id="settings-defaults", markup=False)
            yield Label("model", classes="section")
            yield Static("", id="model-info", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="settings-save", compact=True)
            yield Label("", id="settings-error", classes="error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        brain = self.app.brain
        st = self.app.status
        if brain is not None:
            self.query_one("#model-info", Static).update(
                f"{brain.name} · context {brain.context_tokens} tokens · replies up to {brain.max_new_tokens} tokens"
                + (f" · state {fmt.short(st.state_hash, 16)}" if st else ""))

    def _read(self) -> dict[str, object]:
        def number(widget_id: str) -> int | None:
            text = self.query_one(f"#{widget_id}", Input).value.strip()
            return int(text) if text else None

        return {
            "idle_sleep_seconds": number("idle-sleep"),
            "sleep_on_exit_min": number("exit-sleep"),
            "incognito_default": self.query_one("#incognito-default", Checkbox).value,
            "keep_raw_text": self.query_one("#keep-raw", Checkbox).value,
            "retention_days": number("retention-days"),
            "never_learn": tuple(c for c in CATEGORIES if c in self.query_one("#never-learn", SelectionList).selected),
            "forget_categories": tuple(c for c in CATEGORIES
                                       if c in self.query_one("#forget-categories", SelectionList).selected),
        }

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "settings-save":
            self.action_save()

    @work(exclusive=True, group="settings")
    async def action_save(self) -> None:
        error = self.query_one("#settings-error", Label)
        current = self.app.settings or Settings()
        changes = {k: v for k, v in self._read().items() if not _same(getattr(current, k), v)}
        if not changes:
            error.update("nothing changed")
            return
        try:
            wanted = current.replace(**changes)
        except (TypeError, ValueError) as err:
            error.update(str(err))
            return
        rows = await self.app.engine.call(lambda a: a.memories())
        victims = retention_victims(rows, wanted, self.app.now())
        if victims:
            lines = [f"- {fmt.plural(len(victims), 'memory', 'memories')} match the new policy today and are "
                     "forgotten now, exactly as with forget; this cannot be undone",
                     "- from then on, whatever matches is forgotten when the app opens and before each sleep"]
            if not await self.app.push_screen_wait(ConfirmScreen("Save and forget?", lines, "Save and forget")):
                return
        try:
            await self.app.update_settings(**changes)
        except HopeError as err:
            error.update(str(err))
            return
        error.update("")
        if victims and self.app.chat is not None:
            self.app.chat.forgotten()
        self.notify("Settings saved." + (f" {fmt.plural(len(victims), 'memory', 'memories')} forgotten; the receipt "
                                         "is in the audit view (f5)." if victims else ""))

    def action_back(self) -> None:
        self.dismiss()
