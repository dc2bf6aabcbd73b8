"""The engine on a tiny model: turns are recorded and learned, incognito leaves nothing, sleep is
all-or-nothing, and forget / redact leave exactly the state a replay of the remaining log gives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from privacy import StoreFull, WrongPassphrase
from runtime import HopeError
from runtime.assistant import Assistant
from runtime.users import create_user, list_users, unlock

PASS = "correct horse battery"


def new_assistant(brain, root, name="ana"):
    return Assistant.open(create_user(name, PASS, root=root), brain)


def say(assistant, text):
    return "".join(assistant.turn(text))


def stored_bytes(root, user="ana"):
    """Every byte of the user's store folder (database, WAL, journal), for grepping."""
    return b"".join(p.read_bytes() for p in (root / "users" / user).iterdir() if p.is_file())


def logical_content(assistant):
    """What the store holds, as the user would see it: records and their texts."""
    return [(r.id, r.kind, assistant._store.get(r.id)) for r in assistant._store.list()]


def test_a_turn_is_recorded_learned_and_survives_a_restart(brain, root):
    a = new_assistant(brain, root)
    base = a.state_hash
    reply = say(a, "my sister Lena moved to Bergen")
    rows = a.memories()
    assert [r.preview for r in rows] == ["my sister Lena moved to Bergen"]
    assert rows[0].state == "fast" and rows[0].tokens > 0
    assert a.episode(rows[0].id).reply == reply
    assert a.state_hash != base  # the online levels learned the exchange
    learned = a.state_hash
    a.close(sleep=False)
    b = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert b.state_hash == learned and b.recompute_hash() == learned
    b.close(sleep=False)


def test_a_crash_loses_nothing_committed(brain, root):
    a = new_assistant(brain, root)
    say(a, "first thing")
    say(a, "second thing")
    expected = a.state_hash
    a._store.close()  # the process dies: no exit checkpoint
    b = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert b.state_hash == expected and len(b.memories()) == 2
    b.close(sleep=False)


def test_incognito_leaves_the_store_and_the_weights_as_they_were(brain, root):
    a = new_assistant(brain, root)
    say(a, "a normal turn")
    before, state = logical_content(a), a.state_hash
    a.incognito = True
    say(a, "something private")
    assert logical_content(a) == before and a.state_hash == state
    a.close(sleep=False)


def test_never_learn_categories_are_replaced_before_the_model_reads_them(brain, root):
    a = new_assistant(brain, root)
    say(a, "my card is 4111 1111 1111 1111 ok")
    view = a.episode(a.memories()[0].id)
    assert "4111" not in view.learned and "4111" not in view.user and "card" in view.flags
    a.close(sleep=False)
    assert b"4111" not in stored_bytes(root)


def test_sleep_consolidates_and_resets_the_fast_levels(brain, root):
    a = new_assistant(brain, root)
    for text in ("I like green tea", "my dog is called Rex"):
        say(a, text)
    assert a.pending() == 2 and a.status().tokens_since_sleep > 0
    report = a.sleep()
    assert not report.interrupted and report.episodes == 2 and report.dreams > 0
    assert a.pending() == 0 and a.status().tokens_since_sleep == 0
    assert {r.state for r in a.memories()} == {"slept"}
    assert a.state_hash == report.state_hash == a.recompute_hash()
    assert a.sleep().episodes == 0  # nothing pending: nothing to do
    a.close(sleep=False)


def test_an_interrupted_sleep_commits_nothing(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    before, state, audit = logical_content(a), a.state_hash, len(a.audit_entries())
    calls = []
    report = a.sleep(should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert report.interrupted
    assert logical_content(a) == before and a.state_hash == state and len(a.audit_entries()) == audit
    assert a.pending() == 1
    a.close(sleep=False)


def test_forget_leaves_the_state_a_replay_without_the_episode_gives(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    say(a, "my dog is called Rex")
    a.sleep()
    say(a, "my password hint is pancakes")
    say(a, "I live near the harbour")
    a.close(sleep=False)  # an exit checkpoint that derives from the episode to forget
    a = Assistant.open(unlock("ana", PASS, root=root), brain)
    target = a.memories()[2].id
    before = a.state_hash
    plan = a.forget_plan([target])
    assert [r.preview for r in plan.targets] == ["my password hint is pancakes"] and a.state_hash == before
    receipt = a.forget([target])
    assert (plan.replays, plan.sleeps) == (receipt.episodes_replayed, receipt.sleeps_replayed) == (1, 0)
    assert receipt.records_shredded == (target,)
    assert len(receipt.checkpoints_dropped) == 1  # the exit checkpoint, not the sleep's
    assert receipt.episodes_replayed == 1  # rolled back to the sleep's checkpoint, replayed the later turn
    assert a.state_hash == receipt.state_hash != before
    assert a.recompute_hash() == receipt.state_hash
    assert [r.preview for r in a.memories()] == ["I like green tea", "my dog is called Rex", "I live near the harbour"]
    v = receipt.verification
    assert v is not None and v.strength_after < v.strength_before
    assert a.receipts() == [receipt]
    with pytest.raises(HopeError, match="no memory"):
        a.forget([target])
    assert a.verify_audit()
    a.close(sleep=False)
    assert b"pancakes" not in stored_bytes(root)


def test_forgetting_an_episode_before_a_sleep_replays_that_sleep(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    say(a, "my dog is called Rex")
    a.sleep()
    say(a, "I live near the harbour")
    plan = a.forget_plan([a.memories()[0].id], verify=False)
    assert plan.seconds is not None and plan.seconds > 0  # this machine's sleep and learning were timed
    receipt = a.forget([a.memories()[0].id], verify=False)
    assert receipt.episodes_replayed == 2  # the sleep (it learns the other episode) and the later turn
    assert (plan.replays, plan.episodes, plan.sleeps) == (2, 1, 1) and receipt.sleeps_replayed == 1
    assert a.recompute_hash() == a.state_hash
    a.close(sleep=False)


def test_redact_is_forget_plus_learning_the_redacted_text_in_its_place(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    say(a, "my neighbour Oskar Brandt owes me money")
    say(a, "I live near the harbour")
    rid, said = a.memories()[1].id, a.memories()[1].when
    text = a.episode(rid).user
    start = text.index("Oskar Brandt")
    receipt = a.redact(rid, [(start, start + len("Oskar Brandt"))], verify=False)
    rows = a.memories()
    assert [r.preview for r in rows] == ["I like green tea", "my neighbour [REDACTED] owes me money",
                                         "I live near the harbour"]
    assert rows[1].state == "redacted" and rows[1].id == receipt.replaced_by
    assert rows[1].when == said  # retention still counts from when it was said
    assert a.recompute_hash() == a.state_hash == receipt.state_hash
    with pytest.raises(HopeError, match="spans"):
        a.redact(rows[0].id, [(5, 3)])
    a.close(sleep=False)
    assert b"Oskar" not in stored_bytes(root)


def test_retention_policy_forgets_old_and_flagged_episodes(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    say(a, "mail me at ana@example.org")
    a.update_settings(forget_categories=["email"])
    assert [r.preview for r in a.memories()] == ["I like green tea"]
    a.update_settings(retention_days=30)
    assert a.apply_retention(now=a.memories()[0].when + timedelta(days=31)) is not None
    assert a.memories() == []
    with pytest.raises(HopeError, match="unknown category"):
        a.update_settings(never_learn=["shoe size"])
    a.close(sleep=False)


def test_users_wrong_passphrase_and_bad_input(brain, root):
    create_user("ana", PASS, root=root)
    create_user("ben", PASS, root=root)
    assert list_users(root) == ["ana", "ben"]
    with pytest.raises(WrongPassphrase):
        unlock("ana", "not the passphrase", root=root)
    with pytest.raises(HopeError, match="already exists"):
        create_user("ana", PASS, root=root)
    with pytest.raises(HopeError, match="no user"):
        unlock("cleo", PASS, root=root)
    with pytest.raises(HopeError, match="at least"):
        create_user("dan", "short", root=root)
    a = Assistant.open(unlock("ana", PASS, root=root), brain)
    with pytest.raises(HopeError, match="limit"):
        say(a, "x" * 40_000)
    with pytest.raises(HopeError, match="empty"):
        say(a, "   ")
    assert a.memories() == []
    a.close(sleep=False)


def test_closing_sleeps_when_enough_is_pending(brain, root):
    a = new_assistant(brain, root)
    a.update_settings(sleep_on_exit_min=2)
    say(a, "I like green tea")
    assert a.pending_for_exit_sleep() == 0  # one pending: below the threshold
    say(a, "my dog is called Rex")
    assert a.pending_for_exit_sleep() == 2
    report = a.close()
    assert report is not None and report.episodes == 2
    b = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert b.pending() == 0 and b.state_hash == report.state_hash
    b.close(sleep=False)


def test_a_full_disk_refuses_the_turn_cleanly_and_loses_nothing(brain, root):
    a = new_assistant(brain, root)
    say(a, "I like green tea")
    db = a._store._db
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite reports SQLITE_FULL as a full disk would
    for size in (4096, 1024, 256, 64):  # fill what room is left, down to crumbs
        with pytest.raises(StoreFull):
            while True:
                a._store.append("filler", b"x" * size)
    before, state = logical_content(a), a.state_hash
    with pytest.raises(StoreFull, match="disk is full"):
        say(a, "my dog is called Rex")
    assert logical_content(a) == before and a.state_hash == state
    db.execute("PRAGMA max_page_count = 1073741823")
    say(a, "my dog is called Rex")
    assert len(a.memories()) == 2 and a.verify_audit()
    a.close(sleep=False)


def test_the_same_seed_and_log_give_the_same_state_for_two_users(brain, tmp_path):
    hashes = []
    for name in ("ana", "ben"):
        a = Assistant.open(create_user(name, PASS, root=tmp_path), brain, seed=7)
        say(a, "I like green tea")
        a.sleep()
        hashes.append(a.state_hash)
        a.close(sleep=False)
    assert hashes[0] == hashes[1]


def test_a_sleep_on_close_cut_short_commits_no_sleep_but_keeps_the_exchanges(brain, root):
    a = new_assistant(brain, root)
    a.update_settings(sleep_on_exit_min=1)
    say(a, "I like green tea")
    learned = a.state_hash
    report = a.close(should_stop=lambda: True)
    assert report is not None and report.interrupted
    b = Assistant.open(unlock("ana", PASS, root=root), brain)
    assert b.pending() == 1 and b.state_hash == learned and b.verify_audit()
    b.close(sleep=False)


def test_the_last_episode_is_this_conversations_own(brain, root):
    a = new_assistant(brain, root)
    say(a, "What is a haiku?")
    assert a.last_episode().preview == "What is a haiku?"
    a.new_session()
    assert a.last_episode() is None  # never an older memory from another conversation
    a.incognito = True
    say(a, "a secret plan")
    assert a.last_episode() is None
    a.incognito = False
    say(a, "I like green tea")
    assert a.last_episode().preview == "I like green tea"
    a.forget([a.last_episode().id], verify=False)
    assert a.last_episode() is None and [r.preview for r in a.memories()] == ["What is a haiku?"]
    with pytest.raises(HopeError, match="no memory"):
        a.forget_plan(["0" * 32])
    a.close(sleep=False)
