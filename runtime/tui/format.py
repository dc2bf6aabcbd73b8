"""How the app words times, hashes and measurements: pure functions, so pictures stay testable."""

from __future__ import annotations

from datetime import datetime

from runtime.sleep import Progress
from runtime.wording import plural, stage

__all__ = ["bar", "countdown", "plural", "progress", "short", "stamp", "when"]

_BLOCKS = " ▏▎▍▌▋▊▉█"


def when(moment: datetime, now: datetime) -> str:
    """'today 14:02', 'yesterday', '3 days ago', or a date (11 cells at most), in ``now``'s time zone."""
    local = moment.astimezone(now.tzinfo)
    days = (now.date() - local.date()).days
    if days <= 0:
        return f"today {local:%H:%M}"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return f"{local:%Y-%m-%d}"


def stamp(moment: datetime, now: datetime) -> str:
    """A full local time, for the audit view."""
    return f"{moment.astimezone(now.tzinfo):%Y-%m-%d %H:%M:%S}"


def short(digest: str | None, n: int = 8) -> str:
    return "—" if not digest else digest[:n] + "…"


def countdown(seconds: float) -> str:
    """'4:12' (minutes:seconds), rounded up so it reaches 0:00 only when the time is up."""
    whole = max(0, int(-(-seconds // 1)))
    return f"{whole // 60}:{whole % 60:02d}"


def bar(value: float, top: float, width: int = 8) -> str:
    """A bar ``width`` cells long at ``top``; negative values (worse than the base model) show empty."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(min(value / top, 1.0) * width * 8)
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def progress(p: Progress) -> str:
    return stage(p)
