"""`hope chat` and `hope ask`: talk to the bundled default model in the terminal, line by line.

Nothing is stored and nothing is learned yet: memory, learning and forgetting arrive with the
runtime's engine. Torch and the model load only when a command runs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from runtime import HopeError

HELP = """Commands: /clear forgets this conversation, /help shows this, /bye quits (so does Ctrl-D).
This session is not stored and the model does not learn from it yet."""


def _conversation(max_new_tokens: int, temperature: float, seed: int, context: int):
    from personal_nl.default_model import DefaultModelMissing, load_default_model
    from personal_nl.generate import Sampling
    from runtime.conversation import Conversation

    try:
        imported = load_default_model()
    except DefaultModelMissing as err:
        raise HopeError(str(err)) from None
    except ValueError as err:
        raise HopeError(f"the default model could not be loaded: {err}") from None
    sampling = Sampling(max_new_tokens=max_new_tokens, temperature=temperature, top_p=0.9 if temperature else 1.0,
                        repetition_penalty=1.1, seed=seed)
    return Conversation(imported.model.eval(), imported.tokenizer, sampling, context_tokens=context)


MaxNew = Annotated[int, typer.Option("--max-new-tokens", help="Longest reply, in tokens.")]
Temperature = Annotated[float, typer.Option("--temperature", help="0 answers greedily; higher is more varied.")]
Seed = Annotated[int, typer.Option("--seed", help="Makes sampled replies repeatable.")]
Context = Annotated[int, typer.Option("--context", help="Tokens of conversation kept; older turns drop out.")]


def _say(conversation, text: str) -> None:
    for piece in conversation.reply(text):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def chat(max_new_tokens: MaxNew = 256, temperature: Temperature = 0.0, seed: Seed = 0, context: Context = 2048,
         plain: Annotated[bool, typer.Option("--plain", help="Line mode (the only mode until the app arrives).")]
         = True) -> None:
    """Chat with the default model. Reads lines from the terminal or from stdin (for scripts).

    Examples: `hope chat`, `echo "What is a haiku?" | hope chat --plain`
    """
    interactive = sys.stdin.isatty()
    conversation = _conversation(max_new_tokens, temperature, seed, context)
    if interactive:
        print(HELP, file=sys.stderr)
    while True:
        if interactive:
            sys.stderr.write("> ")
            sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/bye", "/exit", "/quit"):
            break
        if text == "/help":
            print(HELP, file=sys.stderr)
            continue
        if text == "/clear":
            conversation.clear()
            continue
        if text.startswith("/"):
            print(f"Unknown command {text.split()[0]!r}. {HELP}", file=sys.stderr)
            continue
        try:
            _say(conversation, text)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            print("(stopped; that turn was not kept)", file=sys.stderr)
        except HopeError as err:
            print(f"Error: {err}", file=sys.stderr)


def ask(text: Annotated[str, typer.Argument(help="The question.")], max_new_tokens: MaxNew = 256,
        temperature: Temperature = 0.0, seed: Seed = 0) -> None:
    """Ask the default model one question and print the answer.

    Example: `hope ask "Name three primary colours."`
    """
    _say(_conversation(max_new_tokens, temperature, seed, 2048), text)
