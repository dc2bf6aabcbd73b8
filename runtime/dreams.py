"""Dreams: rehearsal data the model builds from what the user told it, for sleep to consolidate.

Learning the transcripts alone does not make a fact answerable later, and this small model's own
free dreams are poor (research/memory-calibration.md), so dreams here are structured and checked:
each statement the user made is shifted to the assistant's perspective (I/my → you/your), asked
about in several question forms and wordings, answered with the shifted statement itself (grounded
in the source), turned into cloze items, and complemented by negatives (personal questions on topics
the user never mentioned → "I don't know — you haven't told me"), which keep the model from answering those with a
fact it did learn. Every dream passes ``runtime.rehearsal.passes_checks``: the answer keeps the
source's key words, the question does not give them away, and nothing talks about "the user".

The same statements and seed give the same dreams, byte for byte: choices come from
``random.Random`` seeded by strings (stable across runs, unlike ``hash``), never from the clock.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from personal_nl.chat import ChatTokenizer
from personal_nl.consolidate import Example
from personal_nl.generate import Sampling, stream
from personal_nl.model import HopeLM
from runtime.rehearsal import ASSISTANT, USER, facts, negatives, rehearse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dream:
    kind: str  # "paraphrase" | "qa" | "cloze" | "negative"
    source: int | None  # index into the statements it came from (None for negatives)
    messages: tuple[tuple[str, str], ...]  # (role, content) turns to rehearse; role is "user" or "assistant"


def dream(model: HopeLM, tokenizer: ChatTokenizer, statements: Sequence[str], *, seed: int,
          on_progress: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] | None = None,
          known: Sequence[str] = (), per_fact: int = 6, negatives_per_fact: float = 1.5) -> list[Dream] | None:
    """Rehearsal dreams for ``statements`` (the user's messages, in log order), or None if
    ``should_stop`` said so. ``known`` holds earlier statements: no negative is built on their topics.
    ``model`` and ``tokenizer`` are the base model's (reserved for model-proposed wordings; the
    structured dreams need only the text). Progress is (statements done, statements)."""
    del model, tokenizer  # the structured dreams are text-only; see docs/BENCHMARKS.md "Sleep consolidation"
    out: list[Dream] = []
    total = len(statements)
    n_facts = 0
    for index, statement in enumerate(statements):
        if should_stop is not None and should_stop():
            return None
        rng = random.Random(f"dream:{seed}:{index}:{statement}")
        for fact in facts(statement):
            n_facts += 1
            out += [Dream(kind, index, turns) for kind, turns in rehearse(fact, rng, per_fact)]
        if on_progress is not None:
            on_progress(index + 1, total)
    if should_stop is not None and should_stop():
        return None
    count = round(n_facts * negatives_per_fact)
    if count:
        rng = random.Random(f"negatives:{seed}:{len(statements)}")
        out += [Dream("negative", None, turns) for turns in negatives([*known, *statements], rng, count)]
    if on_progress is not None and total == 0:
        on_progress(0, 0)
    return out


def with_memories(dreams: Sequence[Dream], statements: Sequence[str], known: Sequence[str], *, seed: int,
                  share: float = 0.4, others: int = 2) -> list[Dream]:
    """The dreams plus lessons in reading the episodic level (runtime/episodic.py): a seeded share
    of the question–answer dreams asked again with a memory prompt that holds their source among
    ``others`` other things the person said (→ the same answer), and of the negatives with only
    other things the person said (→ the same "I don't know"). Without them the small model reads a
    statement in its prompt about as often as not, and invents when the statements are beside the point."""
    from runtime.episodic import memory_prompt  # the very text the chat shows

    pool = [(i, f) for i, s in enumerate(statements) for f in facts(s)]
    pool += [(None, f) for s in known for f in facts(s)]
    rng = random.Random(f"memories:{seed}:{len(statements)}:{len(known)}")
    out = list(dreams)
    for d in dreams:
        if d.kind not in ("qa", "negative") or rng.random() >= share:
            continue
        own = [f for i, f in pool if d.kind == "qa" and i == d.source]
        rest = [f for i, f in pool if d.kind == "negative" or i != d.source]
        shown = own + rng.sample(rest, min(others if own else others + 1, len(rest)))
        if not shown:
            continue
        rng.shuffle(shown)
        out.append(Dream(d.kind, d.source, (("system", memory_prompt(shown)), *d.messages)))
    return out


def examples_from_dreams(tokenizer: ChatTokenizer, dreams: Sequence[Dream]) -> list[Example]:
    """Each dream rendered with the chat template; the loss counts the assistant turns' tokens
    (their text and the end-of-turn token), nothing the user said."""
    return [chat_example(tokenizer, d.messages) for d in dreams]


def chat_example(tokenizer: ChatTokenizer, messages: Sequence[tuple[str, str]], *, counted: str = ASSISTANT,
                 hidden: re.Pattern[str] | None = None) -> Example:
    """One conversation as an Example whose mask selects the ``counted`` role's turns: for the
    assistant its text and end-of-turn token, for the user the text alone. Tokens touching a
    ``hidden`` match (a placeholder such as [REDACTED]) never count."""
    msgs = [{"role": role, "content": content} for role, content in messages]
    text = tokenizer.render(msgs, add_generation_prompt=False)
    spans = []
    for k, m in enumerate(msgs):
        if m["role"] != counted:
            continue
        if counted == ASSISTANT:
            start = len(tokenizer.render(msgs[:k], add_generation_prompt=True)) if k else 0
            end = len(tokenizer.render(msgs[:k + 1], add_generation_prompt=False))
            end = len(text[:end].rstrip())  # the newline after an end-of-turn token is not the reply
        else:  # the user's own words, not the role header the template puts around them
            before = len(tokenizer.render(msgs[:k], add_generation_prompt=False)) if k else 0
            after = len(tokenizer.render(msgs[:k + 1], add_generation_prompt=False))
            start = text.rfind(m["content"], before, after)  # the turn ends with it (a system prompt may not)
            if start < 0:
                raise ValueError("the chat template changed a message's text; its tokens cannot be located")
            end = start + len(m["content"])
        spans.append((start, end))
    holes = [h.span() for h in hidden.finditer(text)] if hidden is not None else []
    encoding = tokenizer.tokenizer.encode(text, add_special_tokens=False)
    mask = tuple(b > a and any(s <= a and b <= e for s, e in spans) and not any(a < y and x < b for x, y in holes)
                 for a, b in encoding.offsets)
    return Example(tuple(encoding.ids), mask)


# Generic prompts whose base-model answers anchor chat behaviour during sleep (none is personal).
_REPLAY_PROMPTS = (
    "What is the boiling point of water at sea level?", "Give me three tips for sleeping better.",
    "Explain what a prime number is.", "Write a short poem about the sea.",
    "How do I make a cup of tea?", "What causes the seasons on Earth?",
    "Translate 'good morning' into French.", "Summarise the plot of Romeo and Juliet in two sentences.",
)
_REPLAY_TOPICS = ("objects", "execmodel", "naming", "exceptions", "calls", "customization", "import",
                  "numeric-types")


def replay_set(model: HopeLM, tokenizer: ChatTokenizer, *, prose_tokens: int = 192,
               answer_tokens: int = 64) -> list[list[int]]:
    """Token sequences that keep general ability during sleep: reference prose (pydoc topics) and the
    base model's own greedy answers to generic chat prompts, rendered as chats. Deterministic."""
    from pydoc_data.topics import topics

    limit = model.cfg.max_seq_len
    out = []
    for name in _REPLAY_TOPICS:
        ids = tokenizer.encode(topics[name][:prose_tokens * 8], add_special_tokens=False)
        out.append(ids[:min(prose_tokens, limit)])
    if tokenizer.chat_template is None:
        return out
    for prompt in _REPLAY_PROMPTS:
        messages = [{"role": USER, "content": prompt}]
        ids = tokenizer.encode_chat(messages)
        room = min(answer_tokens, limit - len(ids) - 2)  # the re-rendered chat adds an end of turn
        if room < 8:
            continue
        sampling = Sampling(max_new_tokens=room, temperature=0.0, stop_ids=tuple(tokenizer.stop_ids))
        with torch.no_grad():
            reply = list(stream(model, ids, sampling))
        answer = tokenizer.decode(reply, skip_special_tokens=True)
        example = chat_example(tokenizer, ((USER, prompt), (ASSISTANT, answer)))
        out.append(list(example.ids)[:limit])
    return out
