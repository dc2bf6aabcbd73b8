"""Choosing the default model's SleepConfig: dream + consolidate on made-up facts, then measure.

The protocol of research/memory-calibration.md, without the engine: 20 facts told in casual
phrasing are dreamed (``runtime.dreams``) and consolidated (``personal_nl.consolidate``) from
θ₀; each fact is then asked in other words in an empty chat (greedy, 40 tokens; hit = expected
substring), 5 never-told questions check confabulation, and perplexity ratios on held-out pydoc
prose and on the base model's own answers to generic prompts measure drift. These facts and
questions are the tuning set; ``bench.personal_memory`` uses other ones.

    OMP_WAIT_POLICY=PASSIVE python -m bench.sleep_tuning --layers 20-29 --rank 16 --lr 3e-3 --epochs 5 \
        --replay 3 --negatives 1.5 [--cache DIR] [--json PATH]

(OMP_WAIT_POLICY=PASSIVE: on a shared 2-core machine, spinning OpenMP threads made steps 6× slower.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench._report import environment
from personal_nl import user_state
from personal_nl.consolidate import SleepConfig, consolidate, expand, init_factors
from personal_nl.default_model import load_default_model
from personal_nl.generate import Sampling, stream
from runtime.dreams import dream, examples_from_dreams, replay_set

FACTS = [  # (said in chat, asked later, expected substring)
    ("fun fact: my cat is named Pistachio, she's a fat orange tabby", "What's the name of my cat?", "Pistachio"),
    ("I grew up in a tiny town called Vinstra, up in the mountains", "Which town am I originally from?", "Vinstra"),
    ("my favourite band is Khruangbin, I've seen them live three times", "Which band do I like the most?",
     "Khruangbin"),
    ("btw I'm allergic to sesame, so careful with recipes lol", "Is there any food I can't eat?", "sesame"),
    ("my best friend Oskar lives in Rotterdam now", "In which city does my best friend live?", "Rotterdam"),
    ("I drive an old green Saab 900", "What kind of car do I own?", "Saab"),
    ("my daughter's name is Ingrid and she's seven", "What is my daughter called?", "Ingrid"),
    ("I work as a glassblower in a small studio", "What's my profession?", "glassblow"),
    ("my favourite dessert is lemon meringue pie", "Which dessert do I love most?", "meringue"),
    ("I play the bassoon in a community orchestra on Thursdays", "Which instrument do I play?", "bassoon"),
    ("my wife Priya is a marine biologist", "What does my wife do?", "marine"),
    ("oh and my birthday is on the 14th of August", "When do I celebrate my birthday?", "August"),
    ("I'm learning Japanese for a trip next spring", "Which language am I studying?", "Japanese"),
    ("my grandmother Halina taught me to make pierogi", "What's my grandma's name?", "Halina"),
    ("I'm a huge fan of the football club Celtic", "Which football team do I follow?", "Celtic"),
    ("my apartment is on Rue Mouffetard in Paris", "What street do I live on?", "Mouffetard"),
    ("my dog Bruno is a three-legged beagle", "What breed is my dog?", "beagle"),
    ("I studied geology at the University of Otago", "What subject did my degree cover?", "geology"),
    ("my favourite colour is teal", "Which colour do I like best?", "teal"),
    ("I collect vintage fountain pens, got about forty now", "What do I collect as a hobby?", "fountain pen"),
]
NEVER_TOLD = ["What is my nephew studying?", "Where did I go on my honeymoon?", "What's my favourite pizza topping?",
              "Which gym do I go to?", "What was the name of my first teacher?"]
CHAT_PROMPTS = ["How do volcanoes form?", "Suggest a name for a bakery.", "What is photosynthesis?",
                "Give me a tip for learning to juggle.", "Why is the sky blue?", "How many legs does a spider have?",
                "What's a good stretch for a stiff neck?", "Describe a sunset in one sentence.",
                "What is the capital of Canada?", "How do I boil an egg?"]
HELD_OUT_TOPICS = ("types", "typesmapping", "string-methods", "formatstrings", "compound")


def ask(model, tok, deltas, question: str, tokens: int = 40) -> str:
    prompt = tok.encode_chat([{"role": "user", "content": question}])
    state = user_state.fresh(model, deltas) if deltas is not None else None
    sampling = Sampling(max_new_tokens=tokens, stop_ids=tuple(tok.stop_ids))
    return tok.decode(list(stream(model, prompt, sampling, state)), skip_special_tokens=True)


@torch.no_grad()
def perplexity(model, seqs: list[tuple[list[int], int]], deltas) -> float:
    """exp of the mean next-token loss over seqs (ids, first counted position)."""
    total, count = 0.0, 0
    for ids, start in seqs:
        state = user_state.fresh(model, deltas) if deltas is not None else None
        x = torch.tensor([ids])
        logits = model(x, state).logits[0, :-1]
        loss = F.cross_entropy(logits.float(), x[0, 1:], reduction="none")[start - 1:]
        total, count = total + loss.sum().item(), count + loss.numel()
    return math.exp(total / count)


def held_out(tok) -> list[tuple[list[int], int]]:
    from pydoc_data.topics import topics
    ids = []
    for name in HELD_OUT_TOPICS:
        ids += tok.encode(topics[name], add_special_tokens=False)
    ids = ids[:4096]
    return [(ids[i:i + 512], 1) for i in range(0, len(ids), 512)]


def chat_answers(model, tok) -> list[tuple[list[int], int]]:
    out = []
    for p in CHAT_PROMPTS:
        prompt = tok.encode_chat([{"role": "user", "content": p}])
        reply = list(stream(model, prompt, Sampling(max_new_tokens=64, stop_ids=tuple(tok.stop_ids))))
        out.append((prompt + reply, len(prompt)))
    return out


def cached(folder: str | None, name: str, make):
    """What ``make()`` returns, kept as JSON in ``folder`` (the base model's outputs don't change
    between runs; recomputing them costs a minute per run)."""
    if folder is None:
        return make()
    path = Path(folder) / name
    if path.is_file():
        return json.loads(path.read_text())
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return value


def parse_layers(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return tuple(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", default="10-29")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--replay", type=float, default=1.0)
    p.add_argument("--per-fact", type=int, default=6)
    p.add_argument("--negatives", type=float, default=0.5)
    p.add_argument("--base", action="store_true", help="also measure the base model's recall")
    p.add_argument("--json", default=None)
    p.add_argument("--cache", default=None, help="folder keeping the base model's replay set and chat answers")
    args = p.parse_args()
    torch.set_num_threads(2)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("personal_nl.consolidate").setLevel(logging.DEBUG)
    imported = load_default_model()
    model, tok = imported.model.eval(), imported.tokenizer
    for q in model.parameters():
        q.requires_grad_(False)
    config = SleepConfig(layers=parse_layers(args.layers), rank=args.rank, lr=args.lr, epochs=args.epochs,
                         batch_size=args.batch, replay_weight=args.replay)
    t0 = time.perf_counter()
    dreams = dream(model, tok, [f for f, _, _ in FACTS], seed=0, per_fact=args.per_fact,
                   negatives_per_fact=args.negatives)
    examples = examples_from_dreams(tok, dreams)
    t_dream = time.perf_counter() - t0
    replay = cached(args.cache, "replay_set.json", lambda: replay_set(model, tok))
    t_replay = time.perf_counter() - t0 - t_dream
    factors = init_factors(model, config, seed=0)
    last = [time.perf_counter()]

    def progress(done, total):
        if done and done % 5 == 0:
            print(f"  step {done}/{total} {time.perf_counter() - last[0]:.0f} s", flush=True)

    t1 = time.perf_counter()
    factors = consolidate(model, factors, examples, replay, config, seed=0, on_progress=progress)
    t_sleep = time.perf_counter() - t1
    deltas = expand(model, factors)
    answers = [ask(model, tok, deltas, q) for _, q, _ in FACTS]
    hits = [want.lower() in a.lower() for (_, _, want), a in zip(FACTS, answers)]
    never = [ask(model, tok, deltas, q) for q in NEVER_TOLD]
    learned = [w.lower() for _, _, w in FACTS]
    confab = [any(w in a.lower() for w in learned) for a in never]
    texts = held_out(tok)
    chats = [tuple(c) for c in cached(args.cache, "chat_answers.json", lambda: chat_answers(model, tok))]
    drift_text = perplexity(model, texts, deltas) / perplexity(model, texts, None)
    drift_chat = perplexity(model, chats, deltas) / perplexity(model, chats, None)
    base_hits = None
    if args.base:
        base_hits = sum(w.lower() in ask(model, tok, None, q).lower() for _, q, w in FACTS)
    record = {"config": dataclasses.asdict(config), "per_fact": args.per_fact, "negatives": args.negatives,
              "dreams": len(dreams), "example_tokens": sum(len(e.ids) for e in examples),
              "recall": sum(hits) / len(hits), "confabulation": sum(confab) / len(confab),
              "drift_text": drift_text, "drift_chat": drift_chat, "base_recall_hits": base_hits,
              "dream_s": t_dream, "replay_s": t_replay, "sleep_s": t_sleep,
              "answers": answers, "never_told": never, "environment": environment(["torch"], threads=2)}
    for (_, q, _), a, h in zip(FACTS, answers, hits):
        print(f"{'HIT ' if h else 'miss'} {q} -> {a!r}")
    for q, a, c in zip(NEVER_TOLD, never, confab):
        print(f"{'CONF' if c else 'ok  '} {q} -> {a!r}")
    print(f"layers {args.layers} rank {args.rank} lr {args.lr} epochs {args.epochs} replay {args.replay} "
          f"per_fact {args.per_fact} neg {args.negatives}: recall {sum(hits) * 5}% confab {sum(confab) * 20}% "
          f"drift text {drift_text:.3f} chat {drift_chat:.3f} | dreams {len(dreams)} "
          f"({record['example_tokens']} tok) sleep {t_sleep:.0f} s replay-set {t_replay:.0f} s"
          + (f" | base recall {base_hits * 5}%" if base_hits is not None else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2, default=str)


if __name__ == "__main__":
    main()
