"""The memory levels on a tiny model: the person's words are learned and the model's replies are
not, sleeps accumulate (a deep sleep trains on everything still held), and a forget retrains only
the levels whose span held the forgotten episode."""

from __future__ import annotations

import dataclasses
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import torch

import runtime.assistant
from personal_nl.user_state import to_tensors
from runtime.assistant import Assistant
from runtime.episodes import Episode
from runtime.rehearsal import facts
from runtime.sleep import learned_tokens
from runtime.state import UserState, learn_exchange
from runtime.users import create_user, unlock
from tests.runtime.tiny_brain import speak_plain_words, tiny_brain

PASS = "correct horse battery"


@pytest.fixture(scope="module")
def deep3():
    """The tiny brain whose every third episode since a deep sleep makes the next sleep deep."""
    brain = tiny_brain()
    return dataclasses.replace(brain, sleep=dataclasses.replace(brain.sleep, deep_after=3))


@pytest.fixture
def sleeps(monkeypatch):
    """Every sleep cycle run, as (deep, the statements it trained on)."""
    seen = []
    real = runtime.assistant.cycle

    def spy(brain, state, episodes, *args, deep=False, **kwargs):
        seen.append((deep, [e.learned for e in episodes]))
        return real(brain, state, episodes, *args, deep=deep, **kwargs)

    monkeypatch.setattr(runtime.assistant, "cycle", spy)
    return seen


def say(assistant, text):
    return "".join(assistant.turn(text))


def test_reply_and_placeholder_tokens_carry_no_loss(brain):
    episode = Episode("my cat [REDACTED] is nine", "my cat [REDACTED] is nine", "Pesto is a wonderful name")
    tokens = learned_tokens(brain, episode)
    counted = brain.tokenizer.decode([t for t, m in zip(tokens.ids, tokens.mask, strict=True) if m])
    assert "cat" in counted and "nine" in counted
    assert "Pesto" not in counted and "wonderful" not in counted and "REDACTED" not in counted


def test_the_wake_step_learns_the_same_whatever_the_model_replied(brain):
    state = UserState.initial(brain.model, brain.sleep, 0)
    tokens = [learned_tokens(brain, Episode("my cat Pesto turned nine", "my cat Pesto turned nine", reply))
              for reply in ("Pesto is a wonderful name for a dog", "the lazy fox the dog")]
    learned = [learn_exchange(brain.model, state, list(t.ids), t.mask) for t in tokens]
    one, other = (to_tensors(s.wake) for s in learned)
    assert one and one.keys() == other.keys()
    assert all(torch.equal(one[k], other[k]) for k in one)  # the reply is context, never a target
    assert any(t.abs().sum() > 0 for t in one.values())  # and the person's words were learned


def test_a_redacted_sentence_is_never_rehearsed():
    assert facts("my card is [CARD]. I live in Bergen") == ["I live in Bergen."]


def test_a_fact_slept_on_first_is_in_the_deep_levels_training_set_after_the_third_sleep(deep3, root, sleeps,
                                                                                        monkeypatch):
    speak_plain_words(monkeypatch, deep3)
    a = Assistant.open(create_user("ana", PASS, root=root), deep3)
    for text in ("my dog is called Rex", "I live near the harbour", "my sister Lena plays the cello"):
        say(a, text)
        a.sleep()
    assert [deep for deep, _ in sleeps] == [False, False, True]
    assert all("my dog is called Rex" in told for _, told in sleeps)  # no sleep consolidates only what is new
    assert a.recompute_hash() == a.state_hash
    a.close(sleep=False)


def test_a_forget_retrains_only_the_levels_that_held_the_episode(deep3, root, sleeps, monkeypatch):
    speak_plain_words(monkeypatch, deep3)
    a = Assistant.open(create_user("ana", PASS, root=root), deep3)
    for text in ("my dog is called Rex", "I live near the harbour", "I work at the bakery"):
        say(a, text)
    a.sleep()  # deep: three since the start
    say(a, "my sister Lena plays the cello")
    a.sleep()  # light
    say(a, "I drive a green van")
    a.sleep()  # light, on both since the deep sleep
    say(a, "I like green tea")  # not slept on
    assert [deep for deep, _ in sleeps] == [True, False, False]
    rows = a.memories()
    assert [r.levels for r in rows] == [("deep", "episodic")] * 3 + [("light", "episodic")] * 2 + [("wake", "episodic")]
    assert a.episode(rows[3].id).levels == ("light", "episodic")

    del sleeps[:]
    receipt = a.forget([rows[4].id], verify=False)  # in the light span: the deep level stays
    assert sleeps == [(False, ["my sister Lena plays the cello"])]
    assert receipt.episodes_replayed == 2  # the last light sleep and the turn after it, not the earlier sleeps
    assert a.recompute_hash() == a.state_hash

    del sleeps[:]
    receipt = a.forget([rows[0].id], verify=False)  # in the deep span: deep, then the light level above it
    assert [deep for deep, _ in sleeps] == [True, False]
    assert "my dog is called Rex" not in sleeps[0][1] and receipt.episodes_replayed == 3
    assert a.recompute_hash() == a.state_hash

    del sleeps[:]
    a.forget([a.memories()[-1].id], verify=False)  # not slept on yet: no sleep is redone
    assert sleeps == []
    assert a.recompute_hash() == a.state_hash
    a.close(sleep=False)


def test_a_forget_removes_a_statement_from_retrieval_at_once(brain, root):
    a = Assistant.open(create_user("ana", PASS, root=root), brain)
    say(a, "my dog is called Rex")
    say(a, "I live near the harbour")
    assert a.recalled("What is my dog called?") == ["My dog is called Rex."]
    assert a.recalled("What is the capital of France?") == []  # not personal: nothing is shown
    a.forget([a.memories()[0].id], verify=False)
    assert a.recalled("What is my dog called?") == []
    a.close(sleep=False)
    a = Assistant.open(unlock("ana", PASS, root=root), brain)  # rebuilt from the log at unlock
    assert a.recalled("Where do I live?") == ["I live near the harbour."] and a.recalled("my dog?") == []
    a.close(sleep=False)


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # another process's temp file, gone or not ours to read
        return b""


def test_the_retrieval_index_never_touches_the_disk(brain, root):
    secret = "Zq" + uuid.uuid4().hex[:10]
    started = time.time()
    a = Assistant.open(create_user("ana", PASS, root=root), brain)
    say(a, f"my cat is called {secret}")
    assert a.recalled("What is my cat called?") == [f"My cat is called {secret}."]
    say(a, "what is my cat called?")  # the retrieved statement is in the prompt now
    places = [root, Path(tempfile.gettempdir())]
    written = [p for place in places for p in place.rglob("*") if p.is_file() and p.stat().st_mtime >= started - 1]
    assert written  # the store itself was written
    assert not [p for p in written if secret.encode() in _bytes(p)]
    a.close(sleep=False)
