"""Does the assistant remember what a person told it, only that, and forget it exactly? (issues 6, 11)

``--sessions S`` (the default, S = 5; issue 11) runs the real lifecycle through the public API: S
sessions of 4 facts, each opened and closed as the CLI does (``Assistant.open`` … ``close()``, whose
exit sleep fires by the normal rule), each fact also asked right after it was told in the same
conversation (incognito, so the question is not learned). After the last sleep the assistant is
opened again and every fact is asked in other words in a fresh conversation, with 10 never-told
questions (abstention and confabulation) and 34 general questions with checkable answers, scored as a
share of the base model's score (a user with nothing learned, same path). A filler episode told in
session 1 is forgotten after the second sleep; at the end one fact of the oldest session and one of
the newest are forgotten. The issue's lines are printed last.

``--sessions 0`` is issue 6's one-sleep protocol, kept as a row:
A made-up person tells the default model 20 personal facts over 5 chat sessions, in casual words,
through the engine (``Assistant.turn``: recorded, learned online). The assistant sleeps. Then each
fact is asked in other words in an empty context (greedy, 40 tokens; a hit is the expected word in
the reply), with the state the engine holds (``Assistant.deltas``), before sleep, after it and with
no user state (the base model); 5 questions about things never told check confabulation (a learned
fact given as the answer). Drift is the perplexity ratio after/before sleep on held-out prose and on
the base model's own answers to generic prompts. Finally 5 facts are forgotten, and recall and the
exposure of the forgotten statements is set against five personal statements nobody ever said.

The facts and questions here are written apart from ``runtime/dreams.py`` (no shared templates or
word lists); tests/runtime/test_dreams.py checks that no question below appears in its dreams.

    OMP_WAIT_POLICY=PASSIVE python -m bench.personal_memory [--sessions 5] [--seed 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench._personal_facts import ABSTAINS, SESSIONS
from bench._personal_facts import NEVER_TOLD as NEVER_TOLD_ALL
from bench._report import environment, format_table, print_header, write_json
from personal_nl import user_state
from personal_nl.generate import Sampling, stream
from runtime import probes

FACTS = [fact for session in SESSIONS[:5] for fact in session]
NEVER_TOLD = NEVER_TOLD_ALL[:5]
FORGET = (1, 6, 10, 15, 19)  # indices into FACTS: one or two per session
CANARIES = [  # personal statements nobody in this bench ever says: the never-seen level of exposure
    "my aunt Henrietta breeds alpacas in the Welsh hills", "I once won a pie-eating contest in Dundee",
    "my best friend Kofi restores old pinball machines", "I sleep with a fan on even in winter",
    "my sister's cat Mortadella only eats cucumber"]
GENERIC_PROMPTS = ["Why do cats purr?", "Give me a packing list for a weekend hike.", "What is inflation?",
                   "Explain how a rainbow forms.", "Write a haiku about autumn leaves.",
                   "What's the difference between weather and climate?", "How do bees make honey?",
                   "Recommend a simple dinner recipe.", "What does a compiler do?", "How far away is the Moon?"]
HELD_OUT_TOPICS = ("typesseq", "typesseq-mutable", "string-methods", "debugger")
ANSWER_TOKENS = 40


def ask(model, tokenizer, deltas, question: str) -> str:
    """The reply to ``question`` in an empty chat, greedy, ANSWER_TOKENS at most."""
    prompt = tokenizer.encode_chat([{"role": "user", "content": question}])
    state = user_state.fresh(model, deltas) if deltas is not None else None
    sampling = Sampling(max_new_tokens=ANSWER_TOKENS, stop_ids=tuple(tokenizer.stop_ids))
    return tokenizer.decode(list(stream(model, prompt, sampling, state)), skip_special_tokens=True)


def learned_words(facts=FACTS) -> set[str]:
    """What counts as a learned fact in a reply: every expected word and every name the person said."""
    names = {w for said, _, _ in facts for w in re.findall(r"\b[A-Z][a-z]+\b", said[1:])} - {"May"}  # a month
    return {w.lower() for w in names} | {want.lower() for _, _, want in facts}


def confabulates(answer: str, facts=FACTS) -> bool:
    """A learned fact given as the answer to a question the person never answered: a reply word
    that starts with a learned word ("moths" for "moth"), or a learned number."""
    return bool(named(answer, facts))


def named(answer: str, facts=FACTS) -> set[str]:
    """The learned words a reply names."""
    words = re.findall(r"\w+", answer.lower())
    text = " ".join(words)
    return {k for k in learned_words(facts) for w in words
            if (w == k if k.isdigit() else w.startswith(k) if " " not in k else k in text)}


def abstains(answer: str) -> bool:
    return any(phrase in answer.lower().replace("’", "'") for phrase in ABSTAINS)


def recall(model, tokenizer, deltas, facts) -> tuple[float, list[str]]:
    answers = [ask(model, tokenizer, deltas, question) for _, question, _ in facts]
    hits = [want.lower() in a.lower() for (_, _, want), a in zip(facts, answers, strict=True)]
    return 100.0 * sum(hits) / len(hits), answers


@torch.no_grad()
def perplexity(model, sequences: list[tuple[list[int], int]], deltas) -> float:
    """exp of the mean next-token loss over the sequences, each counted from its given position."""
    total, count = 0.0, 0
    for ids, start in sequences:
        state = user_state.fresh(model, deltas) if deltas is not None else None
        x = torch.tensor([ids])
        losses = F.cross_entropy(model(x, state).logits[0, :-1].float(), x[0, 1:], reduction="none")[start - 1:]
        total, count = total + losses.sum().item(), count + losses.numel()
    return math.exp(total / count)


def held_out_prose(tokenizer, tokens: int = 4096) -> list[tuple[list[int], int]]:
    from pydoc_data.topics import topics

    ids: list[int] = []
    for name in HELD_OUT_TOPICS:
        ids += tokenizer.encode(topics[name], add_special_tokens=False)
    ids = ids[:tokens]
    return [(ids[i:i + 512], 1) for i in range(0, len(ids), 512)]


def base_answers(model, tokenizer) -> list[tuple[list[int], int]]:
    out = []
    for prompt in GENERIC_PROMPTS:
        ids = tokenizer.encode_chat([{"role": "user", "content": prompt}])
        reply = list(stream(model, ids, Sampling(max_new_tokens=64, stop_ids=tuple(tokenizer.stop_ids))))
        out.append((ids + reply, len(ids)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5,
                        help=f"sessions of 4 facts, each closed with its exit sleep (2–{len(SESSIONS)}); "
                             "0: issue 6's one-sleep protocol")
    parser.add_argument("--no-exit-sleep", dest="exit_sleep", action="store_false",
                        help="with --sessions: never sleep (measures the episodic and wake levels alone)")
    parser.add_argument("--json", default=None, help="write the full record (every answer) here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="the user's seed: dreams and sleep follow from it")
    parser.add_argument("--reply-tokens", type=int, default=48, help="reply length while the facts are told")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.sessions == 0:
        one_sleep(args)
    elif 2 <= args.sessions <= len(SESSIONS):
        from bench._memory_sessions import run_sessions

        run_sessions(args)
    else:
        parser.error(f"--sessions must be 0 or 2–{len(SESSIONS)}, got {args.sessions}")


def one_sleep(args) -> None:
    """Issue 6's protocol: 20 facts told over 5 sessions with no sleep between, one sleep, asked, 5 forgotten."""
    from runtime.assistant import Assistant
    from runtime.brain import Brain
    from runtime.users import create_user

    started = time.perf_counter()
    brain = dataclasses.replace(Brain.default(), max_new_tokens=args.reply_tokens)
    model, tok = brain.model, brain.tokenizer
    prose, chats = held_out_prose(tok), base_answers(model, tok)
    record: dict = {"facts": FACTS, "never_told": NEVER_TOLD, "forget": FORGET, "sleep_config": brain.sleep}
    with tempfile.TemporaryDirectory(prefix="hope-bench-") as root:
        vault = create_user("bench", "correct horse battery", root=Path(root))
        assistant = Assistant.open(vault, brain, seed=args.seed)
        try:
            told = time.perf_counter()
            for session in SESSIONS[:5]:
                assistant.new_session()
                for said, _, _ in session:
                    record.setdefault("replies", []).append("".join(assistant.turn(said)))
            record["tell_seconds"] = time.perf_counter() - told
            ids = [row.id for row in assistant.memories()]
            if len(ids) != len(FACTS):
                raise SystemExit(f"expected {len(FACTS)} episodes in the log, found {len(ids)}")
            before, record["answers_before"] = recall(model, tok, assistant.deltas(), FACTS)
            base, record["answers_base"] = recall(model, tok, None, FACTS)
            report = assistant.sleep()
            deltas = assistant.deltas()
            after, record["answers_after"] = recall(model, tok, deltas, FACTS)
            never = [ask(model, tok, deltas, q) for q in NEVER_TOLD]
            confabulated = [confabulates(a) for a in never]
            record["answers_never_told"] = never
            drift_text = perplexity(model, prose, deltas) / perplexity(model, prose, None)
            drift_chat = perplexity(model, chats, deltas) / perplexity(model, chats, None)
            receipt = assistant.forget([ids[i] for i in FORGET])
            deltas = assistant.deltas()
            forgotten = [FACTS[i] for i in FORGET]
            kept = [f for i, f in enumerate(FACTS) if i not in FORGET]
            recall_forgotten, record["answers_forgotten"] = recall(model, tok, deltas, forgotten)
            recall_kept, record["answers_kept"] = recall(model, tok, deltas, kept)
            exposure_forgotten = [probes.exposure(model, deltas, tok, said) for said, _, _ in forgotten]
            exposure_canaries = [probes.exposure(model, deltas, tok, said) for said in CANARIES]
        finally:
            assistant.close(sleep=False)
    never_seen, spread = statistics.mean(exposure_canaries), statistics.pstdev(exposure_canaries)
    record |= {"recall_before": before, "recall_after": after, "recall_base": base,
               "confabulation": 100.0 * sum(confabulated) / len(confabulated), "drift_text": drift_text,
               "drift_chat": drift_chat, "recall_forgotten": recall_forgotten, "recall_kept": recall_kept,
               "exposure_forgotten": statistics.mean(exposure_forgotten),
               "exposure_forgotten_each": exposure_forgotten, "exposure_never_seen": never_seen,
               "exposure_never_seen_each": exposure_canaries, "exposure_never_seen_spread": spread,
               "sleep_report": report, "receipt": receipt,
               "seconds": time.perf_counter() - started}

    env = environment(["torch"], threads=torch.get_num_threads())
    print_header("personal memory of the default model: told, slept, asked, forgotten", env)
    rows = [[f"{i:2d}", q, w, *("hit" if w.lower() in a.lower() else "-" for a in answers)]
            for i, ((_, q, w), *answers) in enumerate(zip(FACTS, record["answers_base"], record["answers_before"],
                                                          record["answers_after"]))]
    print(format_table(["#", "question", "expects", "base", "before sleep", "after sleep"], rows))
    print()
    print(f"recall before sleep: {before:.0f}%")
    print(f"recall after sleep: {after:.0f}%")
    print(f"recall base model: {base:.0f}%")
    print(f"confabulation on never-told facts: {record['confabulation']:.0f}%")
    print(f"drift text: {drift_text:.2f}")
    print(f"drift chat: {drift_chat:.2f}")
    print(f"recall forgotten: {recall_forgotten:.0f}%")
    print(f"recall kept: {recall_kept:.0f}%")
    print(f"exposure forgotten vs never-seen: {record['exposure_forgotten']:.1f} vs {never_seen:.1f} bits "
          f"(never-seen {min(exposure_canaries):.1f}–{max(exposure_canaries):.1f})")
    print(f"sleep seconds: {report.seconds:.0f}")
    print(f"forget seconds: {receipt.seconds:.0f}")
    if args.json:
        write_json(args.json, {"environment": env, **record})


if __name__ == "__main__":
    main()
