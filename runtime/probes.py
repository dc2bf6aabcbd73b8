"""Measurements of what the model holds about a text, for retention scores and forget receipts.

- strength: how much better the user's model predicts a text than the base model does, in nats
  per token (design.md, "Retention view"); about 0 for a text the model never learned.
- exposure (Carlini et al., "The Secret Sharer"): the text's distinctive words are swapped for
  random ones of the same shape to make a candidate set; exposure = log2(candidates) − log2(rank of
  the real text by loss). A memorised text ranks first (the maximum, log2 of the set size); a text
  the model never saw ranks anywhere (about 1 bit on average). The never-seen reference is the
  same measurement on made-up texts, so a receipt can say whether a forgotten text is back among them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from personal_nl.chat import ChatTokenizer
from personal_nl.model import HopeLM
from personal_nl.user_state import Deltas, merge

BATCH = 32

_NAMES = """Abel Adaeze Agnes Aiko Alba Anouk Arvid Basil Beatrix Bodhi Bram Camille Cato Cosima Dario
Delphine Edda Emeric Esme Fabian Freya Gideon Greta Hamish Hedda Ilse Ingo Isolde Jarno Jovana Kasimir
Koa Leif Liesel Lorcan Mabel Marek Mireille Nils Noor Odette Orla Pavel Petra Quentin Rafferty Rosalind
Saoirse Soren Tamsin Teodor Ulla Vesna Viggo Wanda Wilhelmina Xaver Yara Zeno Zofia""".split()
_WORDS = """anchor bakery basket bicycle blanket bridge cabinet candle canyon carpet castle cellar cherry
chimney clover compass cottage crayon desert dolphin engine falcon feather festival garden glacier
harbor helmet island jacket jungle kettle ladder lantern lemon marble meadow mirror mountain needle
orchard oyster paddle pepper pillow planet puzzle quarry rabbit ribbon saddle sailor shovel spider
stadium tablet teapot temple thunder tunnel valley velvet violin walnut whistle window winter""".split()
_STOP = frozenset("""about after again also been before being could does from have here into just like
more much only other over some such than that their them then there these they this very were what
when where which while with would your yours""".split())
_TOKEN = re.compile(r"\w+", re.UNICODE)


@torch.no_grad()
def sequence_losses(model: HopeLM, deltas: Deltas | None, sequences: Sequence[Sequence[int]]) -> list[float]:
    """Mean next-token loss (nats) of each sequence under θ₀ + deltas, in batches of right-padded rows."""
    if deltas is not None:
        model = merge(model, deltas)
    limit = model.cfg.max_seq_len
    device = model.embed.weight.device
    losses: list[float] = []
    for begin in range(0, len(sequences), BATCH):
        rows = [list(s)[:limit] for s in sequences[begin:begin + BATCH]]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long, device=device)
        targets = torch.full((len(rows), width), -100, dtype=torch.long, device=device)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            targets[r, :len(row) - 1] = torch.tensor(row[1:])
        logits = model(ids).logits.float()
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
        counts = (targets != -100).sum(1).clamp(min=1)
        losses += (nll.sum(1) / counts).tolist()
    return losses


def strength(model: HopeLM, deltas: Deltas | None, sequences: Sequence[Sequence[int]]) -> list[float]:
    """Per sequence: base-model loss minus the user's-model loss, nats per token."""
    base = sequence_losses(model, None, sequences)
    mine = sequence_losses(model, deltas, sequences)
    return [b - m for b, m in zip(base, mine, strict=True)]


def _distinctive(words: list[str]) -> list[int]:
    """Indices of the words a memorised text would give away: names and numbers, else the longest."""
    picked = [i for i, w in enumerate(words) if any(c.isdigit() for c in w) or (i > 0 and w[:1].isupper())]
    if not picked:
        content = [i for i, w in enumerate(words) if len(w) >= 4 and w.lower() not in _STOP]
        picked = sorted(sorted(content, key=lambda i: -len(words[i]))[:2])
    return picked[:4]


def _variant(text: str, rng: random.Random) -> str:
    """The text with its distinctive words replaced by random words of the same shape."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    words = [text[a:b] for a, b in spans]
    out, pos = [], 0
    for i in _distinctive(words):
        a, b = spans[i]
        word = words[i]
        if any(c.isdigit() for c in word):
            new = "".join(str(rng.randrange(10)) if c.isdigit() else c for c in word)
        elif word[:1].isupper():
            new = rng.choice(_NAMES)
        else:
            new = rng.choice(_WORDS)
        out += (text[pos:a], new)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _user_turn(tokenizer: ChatTokenizer, text: str) -> list[int]:
    return tokenizer.encode_chat([{"role": "user", "content": text}], add_generation_prompt=False)


def _rank_exposure(losses: list[float]) -> float:
    """losses[0] is the secret's; the rest are its alternatives."""
    rank = 1 + sum(1 for x in losses[1:] if x < losses[0])
    return math.log2(len(losses)) - math.log2(rank)


def exposure(model: HopeLM, deltas: Deltas | None, tokenizer: ChatTokenizer, text: str, *,
             seed: int = 0, candidates: int = 63) -> float:
    """Exposure in bits of ``text`` (a user message) under θ₀ + deltas, among ``candidates`` variants."""
    rng = random.Random(seed)
    variants = list(dict.fromkeys(_variant(text, rng) for _ in range(candidates * 2)))
    variants = [v for v in variants if v != text][:candidates]
    if not variants:
        return 0.0
    losses = sequence_losses(model, deltas, [_user_turn(tokenizer, t) for t in [text, *variants]])
    return _rank_exposure(losses)


def never_seen_exposure(model: HopeLM, deltas: Deltas | None, tokenizer: ChatTokenizer, text: str, *,
                        seed: int = 0, canaries: int = 4, candidates: int = 63) -> list[float]:
    """Exposure of made-up texts shaped like ``text`` that no one ever said: the level a forgotten
    text should fall back to."""
    rng = random.Random(seed + 1)
    made_up = [_variant(text, rng) for _ in range(canaries)]
    return [exposure(model, deltas, tokenizer, t, seed=seed + 2 + k, candidates=candidates)
            for k, t in enumerate(made_up)]
