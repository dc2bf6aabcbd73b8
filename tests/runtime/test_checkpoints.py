"""Checkpoints are pruned: a store keeps the few a crash or a forget needs, and shreds the rest."""

from __future__ import annotations

from runtime.assistant import KEEP_CHECKPOINTS, Assistant
from runtime.users import unlock
from tests.runtime.test_assistant import PASS, new_assistant, say


def checkpoints(a):
    return a._store.list_checkpoints()


def test_sessions_keep_a_bounded_number_of_checkpoints(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    a.sleep()
    slept = checkpoints(a)[-1].id
    a.close(sleep=False)
    for n in range(5):  # five more sessions, each closing with its own checkpoint
        a = Assistant.open(unlock("ana", PASS, root=root), brain)
        say(a, f"session {n} says hello")
        a.close(sleep=False)
    a = Assistant.open(unlock("ana", PASS, root=root), brain)
    kept = checkpoints(a)
    assert len(kept) == KEEP_CHECKPOINTS + 1 and slept in [c.id for c in kept]  # the newest sleep's stays
    assert len({c.last for c in kept}) == len(kept)  # one per log position
    assert a.state_hash == a.recompute_hash()  # restored from the newest
    made = sum(len(e.ids) for e in a.audit_entries() if e.action == "checkpoint")
    dropped = sum(len(e.ids) for e in a.audit_entries() if e.action == "drop-checkpoint")
    assert made == 6 and dropped == made - len(kept)  # the sleep's, five exits: the rest were shredded
    receipt = a.forget([a.memories()[-1].id], verify=False)  # the newest exchange, after the sleep
    # the wake levels are rebuilt from the sleep on (the other four sessions' exchanges); the slow levels
    # never learned it and stay as they are
    assert (receipt.episodes_replayed, receipt.sleeps_replayed) == (4, 0) and a.recompute_hash() == a.state_hash
    a.close(sleep=False)
