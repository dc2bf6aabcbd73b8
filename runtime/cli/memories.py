"""`hope memories list|show|forget|redact|export`: review what the assistant retained and act on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runtime import HopeError
from runtime.cli.output import confirm, plan_text, receipt_text, resolve
from runtime.cli.session import DataDirOpt, ModelOpt, PassFdOpt, UserOpt, assistant, progress_bar
from runtime.text import printable

memories_app = typer.Typer(name="memories", help="Review, redact, forget or export what your assistant retained.",
                           no_args_is_help=True, add_completion=False)

Ids = Annotated[list[str], typer.Argument(help="Memory ids, or unique prefixes of at least 4 characters.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")]


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
            typer.echo(f"{r.id[:12]}  {r.when:%Y-%m-%d %H:%M}  {r.state:8}  {held:14}  {flags:10}{score}  "
                       f"{printable(r.preview, one_line=True)}")
        typer.echo(f"{len(rows)} memories, {a.pending()} not slept on yet", err=True)


@memories_app.command("show")
def show_command(memory: Annotated[str, typer.Argument(help="Memory id or prefix.")], user: UserOpt = None,
                 data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None, model: ModelOpt = None) -> None:
    """Show one memory in full: what you said, what the model learned, its reply."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        view = a.episode(resolve(a, [memory])[0])
        typer.echo(f"id       {view.id}\nwhen     {view.when:%Y-%m-%d %H:%M:%S %Z}\nstate    {view.state}\n"
                   f"levels   {', '.join(view.levels)}\n"
                   f"flags    {', '.join(view.flags) or '-'}\n\nyou      {printable(view.user)}")
        if view.learned != view.user:
            typer.echo(f"learned  {printable(view.learned)}")
        typer.echo(f"reply    {printable(view.reply)}")


@memories_app.command("forget")
def forget_command(ids: Ids, user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None, yes: Yes = False,
                   verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Measure recall and exposure "
                                                        "before and after.")] = True) -> None:
    """Forget memories: shred them, roll the model back and replay the rest, then print a receipt."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        full = resolve(a, ids)
        typer.echo(plan_text(a.forget_plan(full, verify=verify), "Forget"), err=True)
        if not yes:
            confirm("Forget them?" if len(full) > 1 else "Forget it?", "nothing was forgotten")
        with progress_bar("forgetting") as show:
            receipt = a.forget(full, on_progress=show, verify=verify)
        typer.echo(receipt_text(receipt))


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
        typer.echo(plan_text(a.forget_plan([rid], redacting=True), "Redact"), err=True)
        typer.echo(f"{len(merged)} span{'s' if len(merged) > 1 else ''} become{'s' if len(merged) == 1 else ''} "
                   "[REDACTED], in the reply too, and the redacted text is learned in its place.", err=True)
        if not yes:
            confirm("Redact it?", "nothing was redacted")
        with progress_bar("redacting") as show:
            receipt = a.redact(rid, merged, on_progress=show)
        typer.echo(receipt_text(receipt))


def _occurrences(text: str, needle: str) -> list[int]:
    out, start = [], text.find(needle)
    while start >= 0:
        out.append(start)
        start = text.find(needle, start + 1)
    return out


@memories_app.command("export")
def export_command(path: Annotated[Path, typer.Argument(help="A new file to write (mode 0600).")],
                   user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None,
                   salvage: Annotated[bool, typer.Option("--salvage", help="For a store too damaged to open: "
                                                         "export whatever still reads, and name what does not.")]
                   = False) -> None:
    """Export every memory and setting, decrypted, as JSON: your data, readable anywhere."""
    if salvage:
        from runtime.cli.session import choose_user, data_root, passphrase
        from runtime.users import unlock

        vault = unlock(choose_user(user, data_dir), passphrase(passphrase_fd), root=data_root(data_dir))
        if path.exists():
            raise HopeError(f"{path} exists; choose a new file name for the export")
        count, unreadable = vault.salvage_export(path)
        typer.echo(f"salvaged {count} records to {path} (decrypted: keep it safe)")
        if unreadable:
            typer.echo(f"could not read {len(unreadable)}: {' '.join(unreadable)}", err=True)
        return
    with assistant(user, data_dir, passphrase_fd, model) as a:
        n = a.export(path)
    typer.echo(f"exported {n} records to {path} (decrypted: keep it safe)")
