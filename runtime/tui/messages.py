"""Messages the engine thread posts to the app, named for what happened."""

from __future__ import annotations

from textual.message import Message

from runtime.assistant import SleepReport
from runtime.sleep import Progress


class ReplyStreamed(Message):
    """One more piece of the reply being generated."""

    bubble = False

    def __init__(self, piece: str) -> None:
        super().__init__()
        self.piece = piece


class TurnEnded(Message):
    """The turn is over: ``kept`` when it was recorded and learned, ``stopped`` when cut short."""

    bubble = False

    def __init__(self, *, kept: bool, stopped: bool = False, error: str | None = None) -> None:
        super().__init__()
        self.kept = kept
        self.stopped = stopped
        self.error = error


class SleepProgressed(Message):
    bubble = False

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class SleepFinished(Message):
    """A sleep ended, whole or interrupted (``report.interrupted``: nothing was committed)."""

    bubble = False

    def __init__(self, report: SleepReport | None, error: str | None = None) -> None:
        super().__init__()
        self.report = report
        self.error = error


class WorkProgressed(Message):
    """Progress of a long blocking job (opening, forgetting, redacting, closing)."""

    bubble = False

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
