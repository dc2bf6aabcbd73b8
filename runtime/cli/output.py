"""What the memory verbs print: which memory an id means, a memory's one-line preview, the plan a
forget asks about, and its receipt. One sink, so `hope memories` and `hope chat --plain` agree."""

from __future__ import annotations

import sys

import typer

from runtime import HopeError
from runtime.wording import receipt_summary, replay_words, verdict

MIN_PREFIX = 4


def resolve(a, ids: list[str]) -> list[str]:
    """Full ids for ids or unique prefixes of at least MIN_PREFIX characters (as `git` accepts them)."""
    known = [r.id for r in a.memories()]
    out = []
    for given in ids:
        if len(given) < MIN_PREFIX:
            raise HopeError(f"{given!r} is too short: an id prefix needs at least {MIN_PREFIX} characters "
                            "(see `hope memories list`)")
        matches = [rid for rid in known if rid.startswith(given)]
        if len(matches) != 1:
            raise HopeError(f"no memory matches {given!r}" if not matches else f"{given!r} matches several memories")
        out.append(matches[0])
    return out


def preview(row) -> str:
    """'65a3f0c1  2026-12-05 14:02  “What is a haiku?”': enough to recognise the memory."""
    return f"{row.id[:8]}  {row.when:%Y-%m-%d %H:%M}  “{row.preview}”"


def plan_text(plan, what: str) -> str:
    """The memories a forget or redact acts on, and what it will do: the engine's plan, in words."""
    lines = [f"{what} {len(plan.targets)} memor{'y' if len(plan.targets) == 1 else 'ies'}:"]
    lines += [f"  {preview(row)}" for row in plan.targets]
    lines.append("The record and its key are destroyed now; this cannot be undone. The model goes back to "
                 f"a state from before it, and {replay_words(plan)}.")
    return "\n".join(lines)


def ask(question: str) -> bool:
    """Yes or no on stderr, the answer read from stdin (a script may pipe it); no unless 'y' or 'yes'."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")  # the answer was not echoed: end the question's line
    return answer.strip().lower() in ("y", "yes")


def confirm(question: str, refused: str) -> None:
    """Ask; anything but yes prints ``refused`` and exits 1 (a script sees that nothing happened)."""
    if not ask(question):
        typer.echo(refused, err=True)
        raise typer.Exit(1)


def receipt_text(receipt) -> str:
    lines = [receipt_summary(receipt),
             f"  receipt {receipt.id} · state {receipt.state_hash[:12]} (a replay of the log that remains)"]
    v = receipt.verification
    lines.append("  not measured (--no-verify)" if v is None else f"  {verdict(v)}")
    return "\n".join(lines)
