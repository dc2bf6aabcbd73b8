"""Privacy at the CLI's edges: every way of talking to the assistant honours the user's
incognito_default, and bad input (bytes, control characters, odd passphrases) ends in one clear line."""

from __future__ import annotations

from runtime.assistant import Assistant
from runtime.users import unlock
from tests.runtime.test_cli_memory import PASS, hope, ids, model_dir  # noqa: F401 (fixtures)


def incognito_by_default(hope) -> None:  # noqa: F811
    assert hope("init", model=False)[0] == 0
    code, _, err = hope("settings", "set", "incognito_default", "true")
    assert code == 0, err


def test_ask_honours_incognito_default(hope):  # noqa: F811
    incognito_by_default(hope)
    code, out, err = hope("ask", "my pin is 1234")
    assert code == 0 and out.strip(), err
    code, _, err = hope("ask", "--incognito", "my pin is 5678")
    assert code == 0, err
    assert ids(hope) == []


def test_plain_chat_honours_incognito_default_until_turned_off(hope):  # noqa: F811
    incognito_by_default(hope)
    code, _, err = hope("chat", "--plain", stdin="my pin is 1234\n/incognito\nI like green tea\n/bye\n")
    assert code == 0, err
    code, out, _ = hope("memories", "list")
    assert "my pin is 1234" not in out and "I like green tea" in out  # /incognito lifted it on purpose


def test_the_python_api_opens_incognito_and_a_new_session_returns_to_it(hope, brain, tmp_path):  # noqa: F811
    incognito_by_default(hope)
    a = Assistant.open(unlock("default", PASS, root=tmp_path / "data"), brain)
    try:
        assert a.incognito
        a.incognito = False
        a.new_session()
        assert a.incognito
        "".join(a.turn("my pin is 1234"))
        assert a.memories() == []
    finally:
        a.close(sleep=False)
