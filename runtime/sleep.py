"""One sleep cycle as a pure function: (state, the cycle's episodes, seed) -> the consolidated state.

Dreams come from the base model (no user state), so what a sleep rehearses depends only on the
episodes' text and the seed; the slow factors are trained on the dreams and the transcripts, with
the replay term that keeps general ability; the fast (wake) levels are then reset. A forget
replays exactly this function over the log without the forgotten episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from personal_nl.consolidate import Example, consolidate
from runtime.brain import Brain
from runtime.conversation import literal
from runtime.dreams import dream, examples_from_dreams
from runtime.episodes import Episode
from runtime.state import UserState, no_deltas


@dataclass(frozen=True)
class Progress:
    stage: str  # "dreaming" | "consolidating" | "replaying" | ...
    done: int
    total: int


OnProgress = Callable[[Progress], None]


def transcript(brain: Brain, episode: Episode) -> list[int]:
    """The exchange's tokens as the model learns them (control strings in the user's text stay text)."""
    messages = [{"role": "user", "content": literal(brain.tokenizer, episode.learned)},
                {"role": "assistant", "content": episode.reply}]
    return brain.tokenizer.encode_chat(messages, add_generation_prompt=False)


def cycle(brain: Brain, state: UserState, episodes: Sequence[Episode], seed: int, replay: Sequence[Sequence[int]],
          *, known: Sequence[str] = (), on_progress: OnProgress | None = None,
          should_stop: Callable[[], bool] | None = None) -> tuple[UserState, int] | None:
    """The state after sleeping on ``episodes`` and how many dreams were rehearsed; None if stopped.
    ``known`` holds what the user said before (no "you haven't told me" is rehearsed about it)."""
    def report(stage: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: on_progress(Progress(stage, done, total))) if on_progress else None

    statements = [e.learned for e in episodes]
    dreams = dream(brain.model, brain.tokenizer, statements, seed=seed, known=known,
                   on_progress=report("dreaming"), should_stop=should_stop)
    if dreams is None:
        return None
    examples = examples_from_dreams(brain.tokenizer, dreams)
    for episode in episodes:
        ids = tuple(transcript(brain, episode)[:brain.model.cfg.max_seq_len])
        examples.append(Example(ids, (True,) * len(ids)))
    factors = consolidate(brain.model, state.factors, examples, replay, brain.sleep, seed=seed,
                          wake=state.deltas(brain.model), on_progress=report("consolidating"),
                          should_stop=should_stop)
    if factors is None:
        return None
    return UserState(no_deltas(brain.model), factors, 0), len(dreams)
