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
    PrecisionOpt,
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


# Made-up exchanges for `hope bench`'s sleep: no one's data, the size of a short session.
_BENCH_EXCHANGES = (("My sister Lena moved to Bergen last spring.", "That sounds like a big move!"),
                    ("I play the cello in a community orchestra.", "How lovely, what are you rehearsing?"),
                    ("My dog Pixel is a three-year-old beagle.", "Beagles are great companions."),
                    ("I am allergic to walnuts.", "Thanks for telling me; I will keep that in mind."))


def bench(model: ModelOpt = None,
          tokens: Annotated[int, typer.Option("--tokens", help="New tokens to time.")] = 64,
          precision: PrecisionOpt = None,
          sleep: Annotated[bool, typer.Option(
              "--sleep/--no-sleep", help="Also time a sleep on four exchanges (a minute or two).")] = True) -> None:
    """Time what the chat runs on this machine, beside eager torch: time to the first token and
    tokens/s of a reply, one online learning step, and a sleep on four exchanges."""
    from personal_nl.user_state import merge
    from runtime.decoding import Decoding, TorchReader
    from runtime.dreams import replay_set
    from runtime.episodes import Episode
    from runtime.settings import PRECISIONS
    from runtime.sleep import cycle, transcript
    from runtime.state import UserState, learn_exchange

    brain = load_brain(model)
    limit = brain.model.cfg.max_seq_len
    prompt = brain.tokenizer.encode_chat([{"role": "user", "content": "Tell me about the history of tea. " * 8}])
    prompt = prompt[:limit // 2]  # a small model's context still has room for the reply
    tokens = max(2, min(tokens, limit - len(prompt)))
    episodes = [Episode(user, user, reply) for user, reply in _BENCH_EXCHANGES]
    state = UserState.initial(brain.model, brain.sleep, 0)
    start = time.perf_counter()
    for episode in episodes:  # the user state the chat reads after a short session: wake deltas
        state = learn_exchange(brain.model, state, transcript(brain, episode))
    learn_s = (time.perf_counter() - start) / len(episodes)
    with status("preparing the decoder"):
        decoding = Decoding(brain, precision or PRECISIONS[0])
        app = decoding.reader(state)
    path = f"{decoding.backend} {decoding.precision}" if decoding.backend == "onnxruntime" else "torch (fallback)"
    rows = [(f"reply: {path}", *_time_reply(app, prompt, tokens)),
            ("reply: torch eager", *_time_reply(TorchReader(merge(brain.model, state.deltas(brain.model))), prompt,
                                               tokens))]
    typer.echo(f"{brain.name} · {sys.platform} · prompt {len(prompt)} tokens, reply {tokens} tokens")
    typer.echo(f"{'':28} {'first token':>12} {'tokens/s':>9}")
    for what, first_s, per_s in rows:
        typer.echo(f"{what:28} {1e3 * first_s:9.0f} ms {per_s:9.1f}")
    typer.echo(f"the chat decodes {rows[0][2] / rows[1][2]:.1f}x as fast as eager torch")
    typer.echo(f"{'learn (wake step)':28} {learn_s:9.2f} s   per exchange")
    if sleep:
        with progress_bar() as show:
            start = time.perf_counter()
            cycle(brain, state, episodes, 0, replay_set(brain.model, brain.tokenizer), on_progress=show)
        typer.echo(f"{'sleep on 4 exchanges':28} {time.perf_counter() - start:9.1f} s")


def _time_reply(reader, prompt: list[int], tokens: int) -> tuple[float, float]:
    """(seconds to the first token, tokens per second after it), after one untimed warm-up call."""
    from personal_nl.generate import Sampling

    sampling = Sampling(max_new_tokens=tokens)
    for _ in zip(range(2), reader.stream(prompt, sampling, None)):
        pass
    start = time.perf_counter()
    first, produced = None, 0
    for _ in reader.stream(prompt, sampling, None):
        produced += 1
        first = first or time.perf_counter()
    end = time.perf_counter()
    return first - start, (produced - 1) / (end - first) if produced > 1 else 0.0
