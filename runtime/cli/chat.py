"""`hope chat --plain` and `hope ask`: talk to your assistant line by line, from a terminal or a script.

Every exchange is stored encrypted and learned, unless the session is incognito. Slash commands
act on memory without leaving the chat. On a terminal, the assistant sleeps when left idle (and
wakes as soon as you type).
"""

from __future__ import annotations

import select
import sys
from typing import Annotated

import typer

from privacy import PrivacyError
from runtime import HopeError
from runtime.cli import output
from runtime.cli.session import (
    ContextOpt,
    DataDirOpt,
    ModelOpt,
    PassFdOpt,
    PrecisionOpt,
    UserOpt,
    assistant,
    progress_bar,
)
from runtime.text import printable
from runtime.wording import plural

HELP = """Commands:
  /forget        forget the last exchange of this conversation (asks first)
  /forget ID     forget a memory by id (see /memories)
  /incognito     nothing from here on is stored or learned (again: back to normal)
  /sleep         consolidate what was learned now
  /memories      list what is stored
  /clear         start a new conversation (what was learned stays)
  /help          this text
  /bye           quit (so does Ctrl-D)"""

Incognito = Annotated[bool, typer.Option("--incognito", help="Store and learn nothing from this session.")]


def _say(a, text: str) -> None:
    for piece in a.turn(text):
        sys.stdout.write(printable(piece))  # a reply spelling an escape sequence must not drive the terminal
        sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _forget(a, arg: str) -> None:
    """/forget ID, or bare: the last exchange of this conversation. Either way it names it and asks."""
    if arg:
        target = output.resolve(a, [arg])[0]
    else:
        last = a.last_episode()
        if last is None:
            _note("(nothing said in this conversation is kept, so there is nothing to forget here; "
                  "/memories lists older memories and /forget ID forgets one)")
            return
        target = last.id
    _note(output.plan_text(a.forget_plan([target]), "Forget"))
    if not output.ask("Forget it?"):
        _note("(nothing was forgotten)")
        return
    with progress_bar("forgetting") as show:
        receipt = a.forget([target], on_progress=show)
    _note(output.receipt_text(receipt))


def _command(a, text: str) -> bool:
    """Run a slash command; False means quit."""
    verb, _, arg = text.partition(" ")
    arg = arg.strip()
    if verb in ("/bye", "/exit", "/quit"):
        return False
    if verb == "/help":
        _note(HELP)
    elif verb == "/clear":
        a.new_session()
        _note("(new conversation)")
    elif verb == "/incognito":
        a.incognito = not a.incognito
        _note("····· incognito: nothing from here on is stored or learned ·····" if a.incognito
              else "····· incognito off: exchanges are stored and learned again ·····")
    elif verb == "/sleep":
        try:
            with progress_bar("sleeping") as show:
                report = a.sleep(on_progress=show)
        except KeyboardInterrupt:  # the sleep commits only at its end: stopping it keeps nothing of it
            _note("(sleep stopped; nothing of it was kept, and what you said before is safe)")
            return True
        _note(f"(slept on {plural(report.episodes, 'exchange')}, {plural(report.dreams, 'dream')}, "
              f"{report.seconds:.0f} s)" if report.episodes else "(nothing new to sleep on)")
    elif verb == "/memories":
        rows = a.memories()
        for r in rows:
            _note(f"  {r.id[:8]}  {r.when:%Y-%m-%d %H:%M}  {r.state:8}  {printable(r.preview, one_line=True)}")
        _note(f"({len(rows)} memories)")
    elif verb == "/forget":
        _forget(a, arg)
    else:
        _note(f"Unknown command {verb!r}. {HELP}")
    return True


def _read_line() -> str:
    """One line of stdin. Bytes that are not UTF-8 stay as surrogate escapes, which the turn refuses
    with one line: a strict decode would end the whole session on one bad byte."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # already text (a test's StringIO)
        return sys.stdin.readline()
    return raw.readline().decode("utf-8", errors="surrogateescape")


def _wait_for_line(a) -> str:
    """The next line of input; on a terminal left idle past the sleep time, sleep meanwhile and stop
    at a safe point when the person starts typing."""
    if not sys.stdin.isatty():
        return _read_line()
    while True:
        due = a.seconds_until_sleep()
        ready, _, _ = select.select([sys.stdin], [], [], due)
        if ready:
            return _read_line()
        _note("(idle: sleeping; type to wake me)")
        with progress_bar("sleeping") as show:
            report = a.sleep(on_progress=show, should_stop=lambda: bool(select.select([sys.stdin], [], [], 0)[0]))
        _note("(woke up; nothing was committed)" if report.interrupted else
              f"(slept on {plural(report.episodes, 'exchange')})")


def chat(user: UserOpt = None, data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None, model: ModelOpt = None,
         incognito: Incognito = False, context: ContextOpt = None,
         plain: Annotated[bool, typer.Option("--plain", help="Line mode instead of the app; also reads stdin.")]
         = False, precision: PrecisionOpt = None) -> None:
    """Chat with your assistant: it learns from what you say, sleeps when idle, forgets on demand.

    Examples: `hope chat`, `echo "What is a haiku?" | hope chat --plain`
    """
    if not plain and sys.stdin.isatty() and sys.stdout.isatty():
        from runtime.cli.app import app_command

        app_command(user=user, data_dir=data_dir, passphrase_fd=passphrase_fd, model=model, context=context,
                    precision=precision)
        return
    interactive = sys.stdin.isatty()
    with assistant(user, data_dir, passphrase_fd, model, sleep_on_close=True, context=context,
                   precision=precision, incognito=incognito) as a:
        if interactive:
            _note(HELP)
        while True:
            if interactive:
                sys.stderr.write("> ")
                sys.stderr.flush()
            line = _wait_for_line(a)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if not _command(a, text):
                        break
                    continue
                _say(a, text)
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                _note("(stopped)" if text.startswith("/") else "(stopped; that exchange was not kept)")
            except (HopeError, PrivacyError) as err:  # e.g. a full disk: say so, keep chatting
                _note(f"Error: {err}")


def ask(text: Annotated[str, typer.Argument(help="The question.")], user: UserOpt = None,
        data_dir: DataDirOpt = None, passphrase_fd: PassFdOpt = None, model: ModelOpt = None,
        incognito: Incognito = False, context: ContextOpt = None, precision: PrecisionOpt = None) -> None:
    """Ask one question with your assistant's memory and print the answer (stored and learned
    unless --incognito).

    Example: `hope ask "Where does my sister live?"`
    """
    with assistant(user, data_dir, passphrase_fd, model, context=context, precision=precision,
                   incognito=incognito) as a:
        _say(a, text)
