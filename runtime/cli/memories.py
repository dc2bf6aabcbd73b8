"""`hope memories list|show|forget|redact|export`: review what the assistant retained and act on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime import HopeError
from runtime.cli.chat import _receipt
from runtime.cli.session import DataDirOpt, ModelOpt, PassFdOpt, UserOpt, assistant, progress_bar

memories_app = typer.Typer(name="memories", help="Review, redact, forget or export what your assistant retained.",
                           no_args_is_help=True, add_completion=False)

Ids = Annotated[list[str], typer.Argument(help="Memory ids, or unique prefixes of at least 4 characters.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")]


def resolve(a, ids: list[str]) -> list[str]:
    """Full ids for ids or unique prefixes (as `git` accepts them)."""
    known = [r.id for r in a.memories()]
    out = []
    for given in ids:
        matches = [rid for rid in known if rid.startswith(given)] if len(given) >= 4 else []
        if len(matches) != 1:
            raise HopeError(f"no memory matches {given!r}" if not matches else f"{given!r} matches several memories")
        out.append(matches[0])
    return out


@memories_app.command("list")
def list_command(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                 model: ModelOpt = None,
                 strength: Annotated[bool, typer.Option("--strength", help="Also measure how strongly each is "
                                                        "remembered (nats/token vs the base model).")] = False) -> None:
    """List every memory: id, when, state (fast / slept / redacted), the levels holding it, PII flags, preview."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        rows = a.memories()
        scores = a.strengths() if strength and rows else {}
        for r in rows:
            score = f"  {scores[r.id]:+.3f}" if scores else ""
            flags = ",".join(r.flags) or "-"
            held = "+".join(r.levels)
            typer.echo(f"{r.id[:12]}  {r.when:%Y-%m-%d %H:%M}  {r.state:8}  {held:14}  {flags:10}{score}  {r.preview}")
        typer.echo(f"{len(rows)} memories, {a.pending()} not slept on yet", err=True)


@memories_app.command("show")
def show_command(memory: Annotated[str, typer.Argument(help="Memory id or prefix.")], user: UserOpt = None,
                 data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None, model: ModelOpt = None) -> None:
    """Show one memory in full: what you said, what the model learned, its reply."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        view = a.episode(resolve(a, [memory])[0])
        typer.echo(f"id       {view.id}\nwhen     {view.when:%Y-%m-%d %H:%M:%S %Z}\nstate    {view.state}\n"
                   f"levels   {', '.join(view.levels)}\n"
                   f"flags    {', '.join(view.flags) or '-'}\n\nyou      {view.user}")
        if view.learned != view.user:
            typer.echo(f"learned  {view.learned}")
        typer.echo(f"reply    {view.reply}")


@memories_app.command("forget")
def forget_command(ids: Ids, user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None, yes: Yes = False,
                   verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Measure recall and exposure "
                                                        "before and after.")] = True) -> None:
    """Forget memories: shred them, roll the model back and replay the rest, then print a receipt."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        full = resolve(a, ids)
        if not yes and not typer.confirm(f"Forget {len(full)} memor{'y' if len(full) == 1 else 'ies'}? The record "
                                         "and its key are destroyed now; the model re-learns what came after",
                                         err=True):
            raise typer.Exit(1)
        with progress_bar() as show:
            typer.echo(_receipt(a.forget(full, on_progress=show, verify=verify)))


@memories_app.command("redact")
def redact_command(memory: Annotated[str, typer.Argument(help="Memory id or prefix.")],
                   match: Annotated[list[str], typer.Option("--match", "-m", help="Text to redact (every "
                                                            "occurrence); repeat for several.")],
                   user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None, yes: Yes = False) -> None:
    """Redact text inside a memory: it is forgotten and re-learned with [REDACTED] in place."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        rid = resolve(a, [memory])[0]
        text = a.episode(rid).user
        spans = sorted({(i, i + len(m)) for m in match if m for i in _occurrences(text, m)})
        if not spans:
            raise HopeError("none of the --match texts occur in that memory")
        merged: list[tuple[int, int]] = []
        for a_, b_ in spans:
            if merged and a_ <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b_))
            else:
                merged.append((a_, b_))
        if not yes and not typer.confirm(f"Redact {len(merged)} span(s)? The original is destroyed now", err=True):
            raise typer.Exit(1)
        with progress_bar() as show:
            typer.echo(_receipt(a.redact(rid, merged, on_progress=show)))


def _occurrences(text: str, needle: str) -> list[int]:
    out, start = [], text.find(needle)
    while start >= 0:
        out.append(start)
        start = text.find(needle, start + 1)
    return out


@memories_app.command("export")
def export_command(path: Annotated[Path, typer.Argument(help="A new file to write (mode 0600).")],
                   user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None) -> None:
    """Export every memory and setting, decrypted, as JSON: your data, readable anywhere."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        n = a.export(path)
    typer.echo(f"exported {n} records to {path} (decrypted: keep it safe)")
