"""`hope init|sleep|status|audit|settings|bench`: create a user, consolidate, inspect, configure, time."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from privacy import StoreLocked
from runtime import HopeError
from runtime.cli.session import (
    DataDirOpt,
    ModelOpt,
    PassFdOpt,
    StoreInUse,
    UserOpt,
    assistant,
    data_root,
    load_brain,
    passphrase,
    progress_bar,
    status,
)
from runtime.wording import plural


def init(user: Annotated[str, typer.Option("--user", "-u", help="A name for the new user.")] = "default",
         data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None) -> None:
    """Create a user: an encrypted store unlocked by a passphrase only you know (Argon2id)."""
    from runtime.users import check_new_user, create_user

    check_new_user(user, root=data_root(data_dir))  # before the passphrase is asked, not after
    secret = passphrase(passphrase_fd, confirm=True)
    with status("deriving the key"):
        vault = create_user(user, secret, root=data_root(data_dir))
    typer.echo(f"created user {vault.user!r} at {vault.path}")


def sleep(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None, model: ModelOpt = None,
          if_pending: Annotated[bool, typer.Option("--if-pending", help="Do nothing (exit 0) when nothing is "
                                                   "pending or the store is in use: for schedulers.")] = False) -> None:
    """Consolidate what was learned since the last sleep (dreams, then the slow level), and checkpoint."""
    try:
        with assistant(user, data_dir, passphrase_fd, model) as a:
            if if_pending and not a.pending():
                typer.echo("nothing pending", err=True)
                return
            with progress_bar("sleeping") as show:
                report = a.sleep(on_progress=show)
    except (StoreLocked, StoreInUse):
        if if_pending:
            typer.echo("the store is in use by another hope process; skipped", err=True)
            return
        raise
    typer.echo(f"slept on {plural(report.episodes, 'exchange')} with {plural(report.dreams, 'dream')} in "
               f"{report.seconds:.0f} s; state {report.state_hash[:12]}" if report.episodes else "nothing to sleep on")


def status_command(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                   model: ModelOpt = None) -> None:
    """Who, which model, how much is stored and pending, the state hash, the settings."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        s = a.status()
        last = f"{s.last_sleep:%Y-%m-%d %H:%M}" if s.last_sleep else "never"
        typer.echo(f"user        {s.user}\nmodel       {s.model}\nmemories    {s.episodes} ({s.pending} not slept on)\n"
                   f"tokens      {s.tokens_since_sleep} learned since the last sleep\nlast sleep  {last}\n"
                   f"state       {s.state_hash}")
        for name, value in vars(a.settings).items():
            typer.echo(f"setting     {name} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")


audit_app = typer.Typer(name="audit", help="The content-free, hash-chained record of what happened.",
                        invoke_without_command=True, add_completion=False)


@audit_app.callback()
def audit_list(ctx: typer.Context, user: UserOpt = None, data_dir: DataDirOpt = None,
               passphrase_fd: PassFdOpt = None, model: ModelOpt = None) -> None:
    """List the audit chain: time, action, ids, hashes (never content)."""
    if ctx.invoked_subcommand is not None:
        return
    with assistant(user, data_dir, passphrase_fd, model) as a:
        for e in a.audit_entries():
            ids = ",".join(i[:8] for i in e.ids) or "-"
            typer.echo(f"{e.index:5}  {e.time:%Y-%m-%d %H:%M:%S}  {e.action:16}  {ids}")


@audit_app.command("verify")
def audit_verify(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                 model: ModelOpt = None,
                 state: Annotated[bool, typer.Option("--state", help="Also replay the whole log and check the "
                                                     "model state hash (slow).")] = False) -> None:
    """Verify the audit chain (and, with --state, that the model state is what the log says)."""
    with assistant(user, data_dir, passphrase_fd, model) as a:
        verdict = a.verify_audit()
        if not verdict:
            raise HopeError(f"the audit chain does not verify: {verdict}")
        typer.echo(f"audit chain verified: {len(a.audit_entries())} entries")
        if state:
            with progress_bar("replaying the whole log") as show:
                replayed = a.recompute_hash(on_progress=show)
            if replayed != a.state_hash:
                raise HopeError(f"the model state {a.state_hash[:12]} differs from a replay of the log "
                                f"({replayed[:12]})")
            typer.echo(f"model state verified by replay: {replayed}")


settings_app = typer.Typer(name="settings", help="Show or change your assistant's settings.",
                           invoke_without_command=True, add_completion=False)


@settings_app.callback()
def settings_show(ctx: typer.Context, user: UserOpt = None, data_dir: DataDirOpt = None,
                  passphrase_fd: PassFdOpt = None, model: ModelOpt = None) -> None:
    """Show every setting."""
    if ctx.invoked_subcommand is not None:
        return
    with assistant(user, data_dir, passphrase_fd, model) as a:
        for name, value in vars(a.settings).items():
            typer.echo(f"{name} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")


@settings_app.command("set")
def settings_set(name: Annotated[str, typer.Argument(help="Setting name (see `hope settings`).")],
                 value: Annotated[str, typer.Argument(help="JSON value: 600, true, null, [\"card\", \"iban\"].")],
                 user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None,
                 model: ModelOpt = None) -> None:
    """Change one setting, e.g. `hope settings set idle_sleep_seconds 600`."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise HopeError(f"{value!r} is not a JSON value (strings need quotes inside lists)") from None
    with assistant(user, data_dir, passphrase_fd, model) as a:
        a.update_settings(**{name: parsed})
        typer.echo(f"{name} = {json.dumps(parsed)}")


def bench(model: ModelOpt = None,
          tokens: Annotated[int, typer.Option("--tokens", help="New tokens to time.")] = 64) -> None:
    """Time this machine: prefill, decode tokens/s and one online learning step, on the model."""
    import torch

    from personal_nl.generate import Sampling, stream
    from personal_nl.user_state import merge
    from runtime.state import UserState, learn_exchange

    brain = load_brain(model)
    limit = brain.model.cfg.max_seq_len
    prompt = brain.tokenizer.encode_chat([{"role": "user", "content": "Tell me about the history of tea. " * 8}])
    prompt = prompt[:limit // 2]  # a small model's context still has room for the reply
    tokens = max(1, min(tokens, limit - len(prompt)))
    state = UserState.initial(brain.model, brain.sleep, 0)
    reader = merge(brain.model, state.deltas(brain.model))  # as the chat reads: the user state folded in
    sampling = Sampling(max_new_tokens=tokens)
    rows = []
    with torch.inference_mode():
        start = time.perf_counter()
        reader(torch.tensor([prompt]))
        rows.append(("prefill", f"{len(prompt)} tokens", time.perf_counter() - start))
        start = time.perf_counter()
        produced = sum(1 for _ in stream(reader, prompt, sampling))
        elapsed = time.perf_counter() - start
    rows.append(("generate", f"{produced} tokens, {produced / elapsed:.1f} tok/s", elapsed))
    start = time.perf_counter()
    learn_exchange(brain.model, state, prompt)
    rows.append(("learn (wake step)", f"{len(prompt)} tokens", time.perf_counter() - start))
    typer.echo(f"{brain.name} · torch {torch.__version__} · {torch.get_num_threads()} threads · {sys.platform}")
    for what, detail, seconds in rows:
        typer.echo(f"{what:20} {detail:28} {seconds:8.2f} s")
