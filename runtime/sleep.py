"""One sleep as a pure function: (state, the episodes it covers, seed, depth) -> the consolidated state.

Two slow levels hold what sleep consolidates, both low-rank factors on θ₀ and both retrained from
zero at every sleep that touches them, so nothing they hold erodes: a *light* sleep (the usual one,
at a session's close) trains the light level on every episode since the last deep sleep, on top of
the deep level; a *deep* sleep, once enough has gathered (``SleepConfig.deep_after``), trains the
deep level on every episode still held and empties the light level. Each is a function of its
episodes' text and its seed alone (dreams come from the text; the wake deltas are reset, never
distilled), so a replay skips every sleep a later one redoes and a forget retrains only the levels
whose span held the forgotten episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from personal_nl.consolidate import Example, consolidate, expand, init_factors
from personal_nl.user_state import merge
from runtime.brain import Brain
from runtime.conversation import literal
from runtime.dreams import chat_example, dream, examples_from_dreams, with_memories
from runtime.episodes import Episode
from runtime.rehearsal import PLACEHOLDER, USER
from runtime.state import UserState, no_deltas


@dataclass(frozen=True)
class Progress:
    stage: str  # "dreaming" | "consolidating" | "replaying" | ...
    done: int
    total: int


OnProgress = Callable[[Progress], None]


def _messages(brain: Brain, episode: Episode) -> tuple[tuple[str, str], ...]:
    return (("user", literal(brain.tokenizer, episode.learned)), ("assistant", episode.reply))


def transcript(brain: Brain, episode: Episode) -> list[int]:
    """The exchange's tokens as the model reads them (control strings in the user's text stay text)."""
    messages = [{"role": role, "content": content} for role, content in _messages(brain, episode)]
    return brain.tokenizer.encode_chat(messages, add_generation_prompt=False)


def learned_tokens(brain: Brain, episode: Episode) -> Example:
    """The exchange's tokens with the ones learned from marked: the person's own words. The reply
    stays as context but carries no loss (the model's inventions are not facts about the person),
    nor does any placeholder (a redaction is not a word to learn)."""
    example = chat_example(brain.tokenizer, _messages(brain, episode), counted=USER, hidden=PLACEHOLDER)
    limit = brain.model.cfg.max_seq_len
    return Example(example.ids[:limit], example.mask[:limit])


def cycle(brain: Brain, state: UserState, episodes: Sequence[Episode], seed: int, replay: Sequence[Sequence[int]],
          *, known: Sequence[str] = (), deep: bool = False, on_progress: OnProgress | None = None,
          should_stop: Callable[[], bool] | None = None) -> tuple[UserState, int] | None:
    """The state after sleeping on ``episodes`` and how many dreams were rehearsed; None if stopped.
    Deep: ``episodes`` are all that is held; the deep level is retrained on them from zero and the
    light level emptied. Light: ``episodes`` are those since the last deep sleep; the light level is
    retrained on them from zero over the deep level. ``known`` holds what the user said before them
    (no "you haven't told me" is rehearsed about it). The wake levels are reset either way."""
    def report(stage: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: on_progress(Progress(stage, done, total))) if on_progress else None

    statements = [e.learned for e in episodes]
    dreams = dream(brain.model, brain.tokenizer, statements, seed=seed, known=known,
                   on_progress=report("dreaming"), should_stop=should_stop)
    if dreams is None:
        return None
    dreams = with_memories(dreams, statements, known, seed=seed)
    examples = examples_from_dreams(brain.tokenizer, dreams) + [learned_tokens(brain, e) for e in episodes]
    empty = init_factors(brain.model, brain.sleep, seed)  # U = 0: adds nothing until trained
    reader = brain.model if deep or not state.deep else merge(brain.model, expand(brain.model, state.deep))
    factors = consolidate(reader, empty, examples, replay, brain.sleep, seed=seed,
                          on_progress=report("consolidating"), should_stop=should_stop)
    if factors is None:
        return None
    if deep:
        return UserState(no_deltas(brain.model), empty, 0, factors), len(dreams)
    return UserState(no_deltas(brain.model), factors, 0, state.deep), len(dreams)
