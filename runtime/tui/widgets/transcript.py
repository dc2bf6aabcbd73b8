"""The conversation as it is shown: what you said, streamed Markdown replies, and notices."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream


class Said(Horizontal):
    """A message you typed, shown verbatim (never read as markup)."""

    def __init__(self, text: str) -> None:
        super().__init__(classes="said")
        self.text = text

    def compose(self) -> ComposeResult:
        yield Label("you", classes="who")
        yield Static(Text(self.text), classes="text")


class Reply(Horizontal):
    """A reply; pieces stream into its Markdown as the engine generates them."""

    def __init__(self) -> None:
        super().__init__(classes="reply")
        self.body = Markdown(classes="text")
        self.text = ""
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Label("hope", classes="who")
        yield self.body

    async def write(self, piece: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        self.text += piece
        await self._stream.write(piece)

    async def finish(self, note: str | None = None) -> None:
        """End the stream; ``note`` (e.g. why the turn was not kept) is shown under the reply."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if note:
            self.add_class("dropped")
            await self.body.append(f"\n\n*{note}*")


class Notice(Static):
    """A line from the app, not the model: incognito on/off, a forget, a stopped turn, an error."""

    def __init__(self, text: str, kind: str = "") -> None:
        super().__init__(Text(text), classes=f"notice {kind}".strip())


class Transcript(VerticalScroll):
    """Keeps to the newest line while replies stream in."""

    can_focus = False

    def on_mount(self) -> None:
        self.anchor()

    async def said(self, text: str) -> None:
        await self.mount(Said(text))

    async def reply(self) -> Reply:
        reply = Reply()
        await self.mount(reply)
        return reply

    async def notice(self, text: str, kind: str = "") -> None:
        await self.mount(Notice(text, kind))
