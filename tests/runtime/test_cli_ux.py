"""What a newcomer meets at the command line (issue 15): destructive verbs name their target and
ask, a bare /forget means this conversation's last exchange, and errors point at real things."""

from __future__ import annotations

import io
import os
import re
import sys

from tests.runtime.test_cli_memory import PASS, hope, ids, model_dir  # noqa: F401 (fixtures)


def test_forget_shows_what_it_destroys_and_no_keeps_it(hope):  # noqa: F811
    hope("init", model=False)
    assert hope("ask", "I play the cello")[0] == 0
    first = ids(hope)[0]
    code, out, err = hope("memories", "forget", first[:6], stdin="n\n")
    assert code == 1
    assert f"{first[:8]}" in err and "“I play the cello”" in err  # which memory, by id and first words
    assert "nothing was forgotten" in err and out == ""
    assert ids(hope) == [first]
    code, out, err = hope("memories", "forget", first[:6], stdin="y\n")
    assert code == 0, err
    assert out.startswith("forgotten: 1 record shredded") and ids(hope) == []


def test_bare_forget_means_this_conversation_and_asks(hope):  # noqa: F811
    hope("init", model=False)
    assert hope("chat", "--plain", stdin="What is a haiku?\n/bye\n")[0] == 0
    code, _, err = hope("chat", "--plain", stdin="/forget\n/bye\n")  # a new conversation: nothing of it kept
    assert code == 0 and "nothing said in this conversation is kept" in err
    assert len(ids(hope)) == 1
    code, _, err = hope("chat", "--plain", stdin="I like green tea\n/forget\nn\n/forget\ny\n/bye\n")
    assert code == 0, err
    assert err.count("“I like green tea”") == 2 and "What is a haiku?" not in err  # named, never the older one
    assert "(nothing was forgotten)" in err and "forgotten: 1 record shredded" in err
    code, out, _ = hope("memories", "list")
    assert "What is a haiku?" in out and "green tea" not in out


def test_ctrl_c_during_a_plain_sleep_speaks_of_the_sleep(hope, monkeypatch):  # noqa: F811
    hope("init", model=False)
    assert hope("ask", "I play the cello")[0] == 0

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("runtime.assistant.Assistant.sleep", interrupted)
    code, _, err = hope("chat", "--plain", stdin="/sleep\n/bye\n")
    assert code == 0 and "sleep stopped; nothing of it was kept" in err and "exchange was not kept" not in err


def test_wrong_data_dir_names_the_folder(hope, tmp_path):  # noqa: F811
    code, _, err = hope("status")
    assert code == 1 and str(tmp_path / "data") in err and "--data-dir" in err
    hope("init", model=False)
    code, _, err = hope("status", "--user", "bob")
    assert code == 1 and "no user 'bob' in" in err and str(tmp_path / "data") in err


def test_init_checks_the_name_before_asking_for_a_passphrase(hope, monkeypatch):  # noqa: F811
    monkeypatch.delenv("HOPE_PASSPHRASE")  # a passphrase would have to be asked: the name is refused first
    code, _, err = hope("init", "--user", "bob smith", model=False)
    assert code == 1 and "'bob smith' is not a usable user name" in err and "passphrase" not in err
    monkeypatch.setenv("HOPE_PASSPHRASE", PASS)
    assert hope("init", model=False)[0] == 0
    monkeypatch.delenv("HOPE_PASSPHRASE")
    code, _, err = hope("init", model=False)
    assert code == 1 and "already exists" in err and "passphrase" not in err


def test_init_asks_again_for_a_short_passphrase(monkeypatch, capsys):
    from runtime.cli.session import passphrase

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("HOPE_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    answers = iter(["short", PASS, PASS])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert passphrase(None, confirm=True) == PASS
    assert "That is 5 characters; choose at least 8." in capsys.readouterr().err


def test_short_id_prefix_says_how_long(hope):  # noqa: F811
    hope("init", model=False)
    code, _, err = hope("memories", "show", "ab")
    assert code == 1 and "needs at least 4 characters" in err


def test_errors_name_only_options_the_command_has(hope):  # noqa: F811
    """Every --option an error message suggests exists in that command's --help."""
    seen = 0
    for args in [("status",), ("init",), ("ask", "the lazy dog " * 400), ("memories", "show", "ab"),
                 ("status", "--user", "x"), ("init", "--user", "bob"), ("status",)]:
        code, _, err = hope(*args, model=args[0] != "init")
        if args[0] == "init":
            continue
        assert code == 1, args
        verb = [a for a in args if not a.startswith("-")][:2 if args[0] == "memories" else 1]
        _, helptext, _ = hope(*verb, "--help", model=False, data=False)
        for option in re.findall(r"--[a-z][a-z-]+", err):
            seen += 1
            assert option in helptext, (args, option, err)
    assert seen >= 2  # the messages do point somewhere


def test_help_shows_flags_without_a_type(hope):  # noqa: F811
    for verb in (("memories", "forget"), ("chat",), ("sleep",), ("audit", "verify")):
        code, out, _ = hope(*verb, "--help", model=False, data=False)
        assert code == 0 and "--help" in out and "<bool>" not in out, verb


def test_a_held_store_says_which_process_and_how_to_close_it(hope, tmp_path):  # noqa: F811
    from runtime.users import unlock

    hope("init", model=False)
    with unlock("default", PASS, root=tmp_path / "data").open_store():  # as the app holds it
        code, _, err = hope("status")
    assert code == 1 and f"your store is open in process {os.getpid()}" in err and "ctrl+q in the app" in err
