"""kill -9 in the middle of sleep, forget and redact: the next start rebuilds, nothing committed is
lost, nothing half-done is kept, and the audit chain still verifies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from runtime.assistant import Assistant
from runtime.users import create_user, unlock
from tests.runtime.test_assistant import PASS, say

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, signal, sys
    from runtime.assistant import Assistant
    from runtime.users import unlock
    from tests.runtime.tiny_brain import tiny_brain

    root, action = sys.argv[1], sys.argv[2]
    a = Assistant.open(unlock("ana", {passphrase!r}, root=root), tiny_brain())

    def die(*_, **__):
        os.kill(os.getpid(), signal.SIGKILL)

    def at(stage, step):
        return lambda p: die() if p.stage == stage and p.done >= step else None

    if action == "sleep":
        a.sleep(on_progress=at("consolidating", 1))
    elif action == "forget":
        a.forget([a.memories()[0].id], on_progress=at("replaying", 2), verify=False)
    elif action == "redact":
        import privacy.store
        privacy.store.Store.shred = die  # dies after the replacement is written, before the shred
        a.redact(a.memories()[1].id, [(0, 2)], verify=False)
    elif action == "after-shred":
        import privacy.store
        privacy.store.Store._vacuum = die  # dies right after the shred (and its receipt) committed
        a.forget([a.memories()[0].id], verify=False)
    print("not killed")
""").format(passphrase=PASS)


def kill_during(root, action):
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), action], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == -9, done.stdout + done.stderr


def prepared(brain, root, *, slept=False):
    a = Assistant.open(create_user("ana", PASS, root=root), brain)
    for text in ("I like green tea", "my dog is called Rex", "I live near the harbour"):
        say(a, text)
    if slept:
        a.sleep()
        say(a, "I play the cello")
    rows = [r.preview for r in a.memories()]
    a.close(sleep=False)
    return rows


def reopen(brain, root):
    a = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert a.state_hash == a.recompute_hash()
    assert a.verify_audit()
    return a


def test_kill_during_sleep_loses_nothing_and_commits_nothing(brain, tmp_path):
    rows = prepared(brain, tmp_path)
    kill_during(tmp_path, "sleep")
    a = reopen(brain, tmp_path)
    assert [r.preview for r in a.memories()] == rows
    assert a.pending() == 3  # the sleep never committed
    assert not a.sleep().interrupted and a.pending() == 0
    a.close(sleep=False)


def test_kill_during_forget_replay_finishes_the_forget_on_restart(brain, tmp_path):
    rows = prepared(brain, tmp_path, slept=True)
    kill_during(tmp_path, "forget")
    a = reopen(brain, tmp_path)
    assert [r.preview for r in a.memories()] == rows[1:]  # shredded before the kill: gone for good
    a.close(sleep=False)


def test_kill_during_redact_finishes_the_redaction_on_restart(brain, tmp_path):
    prepared(brain, tmp_path)
    kill_during(tmp_path, "redact")
    a = reopen(brain, tmp_path)
    previews = [r.preview for r in a.memories()]
    assert previews == ["I like green tea", "[REDACTED] dog is called Rex", "I live near the harbour"]
    a.close(sleep=False)


def test_kill_right_after_the_shred_keeps_the_receipt_and_completes_it_on_restart(brain, tmp_path):
    rows = prepared(brain, tmp_path)
    kill_during(tmp_path, "after-shred")
    a = reopen(brain, tmp_path)
    assert [r.preview for r in a.memories()] == rows[1:]
    (receipt,) = a.receipts()
    assert receipt.complete and len(receipt.records_shredded) == 1 and receipt.state_hash == a.state_hash
    a.close(sleep=False)
