"""Issue 11's protocol for ``bench.personal_memory --sessions S``: the lifecycle a user lives.

Every step goes through the engine's public API as the CLI drives it: ``Assistant.open`` per
session, ``turn`` per message, ``close()`` whose exit sleep fires by the normal rule; the questions
after the last sleep are asked in fresh incognito conversations of a reopened assistant, so whatever
the engine puts in a prompt (or learns) is measured, not a side path.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bench._personal_facts import FILLER, GENERAL, NEVER_TOLD, SESSIONS
from bench._report import environment, format_table, print_header, write_json
from bench.personal_memory import abstains, base_answers, named, perplexity


def _ask(assistant, question: str) -> str:
    """The reply in a fresh conversation that keeps nothing (incognito)."""
    assistant.new_session()
    assistant.incognito = True
    return "".join(assistant.turn(question))


def _hit(answer: str, accepted) -> bool:
    return any(a.lower() in answer.lower() for a in accepted)


def run_sessions(args) -> None:
    import torch

    from runtime.assistant import Assistant
    from runtime.brain import Brain
    from runtime.users import create_user, unlock

    started = time.perf_counter()
    S = args.sessions
    sessions = SESSIONS[:S]
    facts = [f for session in sessions for f in session]
    brain = dataclasses.replace(Brain.default(), max_new_tokens=args.reply_tokens)
    model, tok = brain.model, brain.tokenizer
    chats = base_answers(model, tok)
    record: dict = {"sessions": sessions, "filler": FILLER, "never_told": NEVER_TOLD, "general": GENERAL,
                    "sleep_config": brain.sleep, "replies": [], "same_conversation": [], "sleeps": []}
    passphrase = "correct horse battery"
    with tempfile.TemporaryDirectory(prefix="hope-bench-") as root:
        base_user = Assistant.open(create_user("base", passphrase, root=Path(root)), brain, seed=args.seed)
        try:  # the base model's score, through the same path, for a user who has told nothing
            base_general = [_ask(base_user, q) for q, _ in GENERAL]
        finally:
            base_user.close(sleep=False)
        create_user("bench", passphrase, root=Path(root))
        if not args.exit_sleep:  # the episodic and wake levels alone: what a user has before any sleep
            with Assistant.open(unlock("bench", passphrase, root=Path(root)), brain, seed=args.seed) as a:
                a.update_settings(sleep_on_exit_min=0)
        ids_by_session: list[list[str]] = []
        forget_early = None
        for k, session in enumerate(sessions):
            a = Assistant.open(unlock("bench", passphrase, root=Path(root)), brain, seed=args.seed)
            try:
                a.new_session()
                said = [*session] if k else [(FILLER, None, None), *session]
                for text, question, want in said:
                    record["replies"].append("".join(a.turn(text)))
                    if question is not None:  # asked right after, in the same conversation, not learned
                        a.incognito = True
                        answer = "".join(a.turn(question))
                        a.incognito = False
                        record["same_conversation"].append((question, want, answer))
                ids_by_session.append([row.id for row in a.memories()][-len(said):])
                report = a.close()
            except BaseException:
                a.close(sleep=False)
                raise
            record["sleeps"].append(report)
            depth = "deep" if getattr(report, "deep", False) else "light"
            print(f"session {k + 1}: {depth} exit sleep "
                  f"{report.seconds if report else 0:.0f} s", flush=True)
            if k == 1:  # two sleeps (or sessions): forget the filler, as a user would in the next session
                a = Assistant.open(unlock("bench", passphrase, root=Path(root)), brain)
                try:
                    forget_early = a.forget([ids_by_session[0][0]])
                finally:
                    a.close(sleep=False)
        a = Assistant.open(unlock("bench", passphrase, root=Path(root)), brain)
        try:
            answers = [_ask(a, q) for _, q, _ in facts]
            never = [_ask(a, q) for q in NEVER_TOLD]
            general = [_ask(a, q) for q, _ in GENERAL]
            deltas = a.deltas()
            drift_chat = perplexity(model, chats, deltas) / perplexity(model, chats, None)
            oldest, newest = ids_by_session[0][1], ids_by_session[-1][-1]  # session 1's first fact (after the filler)
            forget_late = a.forget([oldest, newest])
            forgotten = [_ask(a, q) for _, q, _ in (facts[0], facts[-1])]
        finally:
            a.close(sleep=False)

    hits = [w.lower() in ans.lower() for (_, _, w), ans in zip(facts, answers, strict=True)]
    by_age = [100.0 * sum(hits[4 * k:4 * k + 4]) / 4 for k in range(S)]
    same = [w.lower() in ans.lower() for _, w, ans in record["same_conversation"]]
    abstained = [abstains(x) for x in never]
    confabulated = [bool(named(x, facts)) for x in never]
    base_score = sum(_hit(x, acc) for x, (_, acc) in zip(base_general, GENERAL, strict=True))
    score = sum(_hit(x, acc) for x, (_, acc) in zip(general, GENERAL, strict=True))
    leaks = [q for (q, _), x, b in zip(GENERAL, general, base_general, strict=True)
             if abstains(x) or (named(x, facts) - named(b, facts))]
    light = [r.seconds for r in record["sleeps"] if r is not None and not getattr(r, "deep", False)]
    deep = [r.seconds for r in record["sleeps"] if r is not None and getattr(r, "deep", False)]
    lines = {
        "recall after sleeps": 100.0 * sum(hits) / len(hits),
        "recall oldest session": by_age[0],
        "recall same conversation": 100.0 * sum(same) / len(same),
        "abstention on never-told": 100.0 * sum(abstained) / len(abstained),
        "confabulation on never-told": 100.0 * sum(confabulated) / len(confabulated),
        "drift chat": drift_chat,
        "general ability kept": 100.0 * score / max(base_score, 1),
        "forget seconds at 2 sleeps": forget_early.seconds,
        f"forget seconds at {S} sleeps" + (" (two facts)" if S == 2 else ""): forget_late.seconds,
        "sleep seconds per session": statistics.mean(light) if light else float("nan"),
        "deep sleep seconds": max(deep) if deep else float("nan"),
    }
    record |= {"answers": answers, "hits": hits, "recall_by_session": by_age, "never_told_answers": never,
               "general_answers": general, "base_general_answers": base_general, "general_score": score,
               "base_general_score": base_score, "general_leaks": leaks, "light_sleep_seconds": light,
               "deep_sleep_seconds": deep, "forget_early": forget_early, "forget_late": forget_late,
               "forgotten_answers": forgotten, "lines": lines, "seconds": time.perf_counter() - started}

    env = environment(["torch"], threads=torch.get_num_threads())
    print_header(f"personal memory over {S} sessions, " + ("each closed with its exit sleep" if args.exit_sleep
                                                           else "no sleep (episodic and wake levels only)"), env)
    rows = [[f"{i:2d}", i // 4 + 1, q, w, "hit" if h else "-", "hit" if s else "-"]
            for i, ((_, q, w), h, s) in enumerate(zip(facts, hits, same, strict=True))]
    print(format_table(["#", "session", "question", "expects", "after sleeps", "same conversation"], rows))
    print()
    print("recall by session (oldest first): " + ", ".join(f"{r:.0f}%" for r in by_age))
    print(f"general questions right: {score} of {len(GENERAL)} (base model {base_score}); "
          f"answers naming a learned fact or abstaining: {len(leaks)}")
    slept = [("deep " if getattr(r, "deep", False) else "light ") + f"{r.seconds:.0f} s"
             for r in record["sleeps"] if r]
    print(f"sleeps: {', '.join(slept)}")
    still = sum(w.lower() in x.lower() for (_, _, w), x in zip((facts[0], facts[-1]), forgotten, strict=True))
    print(f"forgotten facts recalled after the forget: {still} of 2")
    print(f"total seconds: {record['seconds']:.0f}")
    print()
    for name, value in lines.items():
        print(f"{name}: {value:.2f}" if name == "drift chat" else f"{name}: {value:.0f}" if "seconds" in name
              else f"{name}: {value:.0f}%")
    if args.json:
        write_json(args.json, {"environment": env, **record})
