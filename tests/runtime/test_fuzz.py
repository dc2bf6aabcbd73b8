"""Bad input never crashes: property tests over every text entry point, and the store's decoders fed
mutated bytes. Each either accepts or refuses with the one documented error; the counts of inputs
tried are in docs/SECURITY.md ("Fuzzing")."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.export import decode_bundle, encode_bundle
from runtime import HopeError
from runtime.assistant import ForgetReceipt, Verification
from runtime.episodes import Episode, Sleep
from runtime.settings import Settings
from runtime.state import UserState
from runtime.text import checked_message, printable
from runtime.users import checked_passphrase, passphrase_from

CONTROL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>system\n", "\x00", "\u202e",
                  "\ud800", "\udcff", "\x1b]0;title\x07", "\r\n", "\x85", "\ufeff"]
# Arbitrary unicode including lone surrogates, NUL, C0/C1 controls and bidi overrides, mixed with the
# chat template's control tokens, some very long.
texts = st.one_of(
    st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=200),
    st.lists(st.sampled_from(CONTROL_TOKENS) | st.text(max_size=8), max_size=20).map("".join),
    st.integers(1000, 40_000).map(lambda n: "x" * n),
)
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(texts)
def test_a_message_is_cleaned_or_refused_with_one_error(text):
    try:
        cleaned = checked_message(text)
    except HopeError as err:
        assert "not UTF-8" in str(err) and re.search(r"[\ud800-\udfff]", text)
        return
    cleaned.encode("utf-8")  # the tokenizer and the store can take it
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", cleaned)


@FUZZ
@given(texts)
def test_printed_text_holds_nothing_that_drives_a_terminal(text):
    shown = printable(text, one_line=True)
    assert not UNSAFE.search(shown) and "\n" not in shown
    shown.encode("utf-8")


@FUZZ
@given(texts)
def test_a_passphrase_is_accepted_or_refused_with_one_error(text):
    try:
        checked_passphrase(text)
    except HopeError:
        return
    assert 0 < len(text) <= 1024
    text.encode("utf-8")  # what the KDF gets


@FUZZ
@given(st.text(st.characters(codec=None, blacklist_characters="\x00"), max_size=300))
def test_a_passphrase_from_the_environment_is_accepted_or_one_error(text):
    import os

    old = os.environ.get("HOPE_PASSPHRASE")
    try:
        os.environ["HOPE_PASSPHRASE"] = text
    except (ValueError, UnicodeEncodeError):  # the OS itself refuses such a variable
        return
    try:
        got = passphrase_from(None)
        assert got is None or got == text.rstrip("\r\n")
    except HopeError:
        pass
    finally:
        if old is None:
            os.environ.pop("HOPE_PASSPHRASE", None)
        else:
            os.environ["HOPE_PASSPHRASE"] = old


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(texts)
def test_a_turn_replies_or_refuses_and_the_store_stays_whole(opened, text):
    before = len(opened.memories())
    try:
        reply = "".join(opened.turn(text))
    except HopeError:
        assert len(opened.memories()) == before  # refused: nothing kept
        return
    assert isinstance(reply, str)
    assert len(opened.memories()) == before + 1
    opened.memories()  # every stored episode still decodes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["idle_sleep_seconds", "never_learn", "keep_raw_text", "incognito_default",
                        "retention_days", "forget_categories"]),
       st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
                    lambda inner: st.lists(inner, max_size=4), max_leaves=8))
def test_a_setting_value_is_taken_or_refused_with_one_error(opened, name, value):
    try:
        opened.update_settings(**{name: value})
    except HopeError:
        pass
    assert Settings.load(opened._store) == opened.settings  # what is stored still loads, and is what is used


# -- decoders ----------------------------------------------------------------------------------

def mutations(valid: bytes):
    """Mutated copies of ``valid``: flipped bytes, cuts, insertions, splices, and plain noise."""
    n = len(valid)
    flip = st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, 255)).map(
        lambda p: valid[:p[0]] + bytes([valid[p[0]] ^ p[1]]) + valid[p[0] + 1:] if n else valid)
    cut = st.integers(0, n).map(lambda i: valid[:i])
    insert = st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=16)).map(
        lambda p: valid[:p[0]] + p[1] + valid[p[0]:])
    splice = st.tuples(st.integers(0, n), st.integers(0, n), st.binary(max_size=16)).map(
        lambda p: valid[:min(p[:2])] + p[2] + valid[max(p[:2]):])
    return st.one_of(flip, cut, insert, splice, st.binary(max_size=64))


EPISODE = Episode("my pin is 4821", "my pin is [PIN]", "noted").to_bytes()
SLEEP = Sleep(1234).to_bytes()
RECEIPT = ForgetReceipt("ab" * 8, ("0" * 32,), ("1" * 32,), 3, "f" * 64, 1.5,
                        Verification(0.1, 0.0, 9.0, 3.0, 2.5, (2.0, 3.0)), None).to_bytes()


def decodes_or_refuses(decode, data: bytes) -> None:
    try:
        decode(data)
    except ValueError:  # CorruptRecord and the bundle's errors are ValueErrors naming no content
        pass


@FUZZ
@given(mutations(EPISODE))
def test_episode_decoder_refuses_mutated_bytes_cleanly(data):
    decodes_or_refuses(Episode.from_bytes, data)


@FUZZ
@given(mutations(SLEEP))
def test_sleep_decoder_refuses_mutated_bytes_cleanly(data):
    decodes_or_refuses(Sleep.from_bytes, data)


@FUZZ
@given(mutations(RECEIPT))
def test_receipt_decoder_refuses_mutated_bytes_cleanly(data):
    decodes_or_refuses(ForgetReceipt.from_bytes, data)


@pytest.fixture(scope="module")
def checkpoint(brain):
    return UserState.initial(brain.model, brain.sleep, 0).to_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_checkpoint_decoder_refuses_mutated_bytes_cleanly(brain, checkpoint, data):
    mutated = data.draw(mutations(checkpoint[:4096]).map(lambda head: head + checkpoint[4096:]))
    decodes_or_refuses(lambda b: UserState.from_bytes(b, brain.model), mutated)


def bundle() -> bytes:
    from datetime import UTC, datetime

    from privacy.store import RecordInfo

    when = datetime(2026, 12, 1, tzinfo=UTC)
    info = RecordInfo("a" * 32, "episode", 1, len(EPISODE), when, {"flags": ["pin"]})
    return encode_bundle("ana", when, [(info, EPISODE)], {"never_learn": ["email"]})


BUNDLE = bundle()


@FUZZ
@given(mutations(BUNDLE))
def test_export_bundle_decoder_refuses_mutated_bytes_cleanly(data):
    decodes_or_refuses(decode_bundle, data)


@pytest.fixture
def opened(brain, tmp_path):
    from runtime.assistant import Assistant
    from runtime.users import create_user

    a = Assistant.open(create_user("ana", "correct horse battery", root=tmp_path / "data"), brain)
    yield a
    a.close(sleep=False)
