"""Privacy at the CLI's edges: every way of talking to the assistant honours the user's
incognito_default, and bad input (bytes, control characters, odd passphrases) ends in one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import HopeError
from runtime.assistant import Assistant
from runtime.users import MAX_PASSPHRASE, create_user, list_users, unlock
from tests.runtime.test_cli_memory import PASS, hope, ids, model_dir  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]


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


def one_error_line(code: int, err: str, expected: str) -> None:
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("Error: ") and expected in err, err


def test_a_store_folder_made_for_another_user_is_one_line(hope, tmp_path):  # noqa: F811
    hope("init", model=False)
    users = tmp_path / "data" / "users"
    (users / "default").rename(users / "ana")
    code, _, err = hope("status", "--user", "ana")
    one_error_line(code, err, "was made for another user")


def test_undecodable_bytes_in_asks_argument_are_one_line_and_nothing_is_kept(hope):  # noqa: F811
    hope("init", model=False)
    code, _, err = hope("ask", "caf\udce9 au lait")  # how argv carries the byte 0xe9 of a Latin-1 terminal
    one_error_line(code, err, "not UTF-8 text")
    assert ids(hope) == []


def passphrase_on_fd(hope, monkeypatch, data: bytes, *args):  # noqa: F811
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    monkeypatch.delenv("HOPE_PASSPHRASE")
    try:
        return hope("status", "--passphrase-fd", str(read), *args)
    finally:
        os.close(read)


def test_passphrase_fd_that_is_not_utf8_or_not_open_is_one_line(hope, monkeypatch):  # noqa: F811
    hope("init", model=False)
    code, _, err = passphrase_on_fd(hope, monkeypatch, b"\xff\xfe horse battery\n")
    one_error_line(code, err, "is not UTF-8 text")
    code, _, err = hope("status", "--passphrase-fd", "4242")
    one_error_line(code, err, "file descriptor 4242 is not open for reading")


def test_a_trailing_cr_is_dropped_alike_from_the_fd_and_the_environment(hope, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HOPE_PASSPHRASE", PASS + "\r")
    assert hope("init", model=False)[0] == 0
    code, _, err = passphrase_on_fd(hope, monkeypatch, (PASS + "\r\n").encode())
    assert code == 0, err
    monkeypatch.setenv("HOPE_PASSPHRASE", PASS)
    assert hope("status")[0] == 0


@pytest.mark.parametrize("weak", [" " * 8, "e\u0301" * 4, "  abc   \t ", "x" * 7])
def test_short_passphrases_are_counted_after_nfc_and_without_spaces(root, weak):
    with pytest.raises(HopeError, match="at least 8 characters"):
        create_user("ana", weak, root=root)
    assert list_users(root) == []


def test_an_overlong_or_undecodable_passphrase_is_refused_before_the_kdf(root):
    with pytest.raises(HopeError, match="longer than 1024"):
        create_user("ana", "x" * (MAX_PASSPHRASE + 1), root=root)
    with pytest.raises(HopeError, match="not UTF-8"):
        create_user("ana", "horse battery \udcff", root=root)
    create_user("ana", "  é" + "x" * 7, root=root)  # eight characters inside the spaces: accepted
    with pytest.raises(HopeError, match="longer than 1024"):
        unlock("ana", "x" * 10_000_000, root=root)


def test_stored_text_cannot_drive_the_terminal(hope):  # noqa: F811
    hope("init", model=False)
    assert hope("ask", "set the title \x1b]0;pwned\x07 now")[0] == 0  # an OSC sequence: dropped on the way in
    assert hope("ask", "abc\u202edef")[0] == 0  # a bidi override is text, stored, but escaped on the way out
    code, out, _ = hope("memories", "list")
    assert "\x1b" not in out and "\x07" not in out and "set the title ]0;pwned now" in out
    assert "\u202e" not in out and "abc\\u202edef" in out
    code, out, _ = hope("memories", "show", ids(hope)[1])
    assert code == 0 and "you      abc\\u202edef" in out


def test_binary_bytes_on_plain_chat_stdin_are_refused_and_the_session_goes_on(model_dir, tmp_path):  # noqa: F811
    env = {**os.environ, "HOPE_PASSPHRASE": PASS, "HOPE_DATA_DIR": str(tmp_path)}
    hope_cli = [sys.executable, "-c", "import sys; sys.argv[0] = 'hope'; from runtime.cli import main; main()"]
    made = subprocess.run([*hope_cli, "init"], env=env, cwd=ROOT, capture_output=True, timeout=300)
    assert made.returncode == 0, made.stderr
    stdin = b"I like green tea\n\xff\xfe\x00\x9b binary \x1b[31m\n/memories\nmy dog is Rex\n/bye\n"
    done = subprocess.run([*hope_cli, "chat", "--plain", "--model", str(model_dir)], input=stdin, env=env,
                          cwd=ROOT, capture_output=True, timeout=300)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert err.count("Error: the message holds bytes that are not UTF-8 text") == 1 and "Traceback" not in err
    assert "(1 memories)" in err  # the session was alive after the bad line ...
    listed = subprocess.run([*hope_cli, "memories", "list", "--model", str(model_dir)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert "I like green tea" in listed.stdout and "my dog is Rex" in listed.stdout  # ... and went on
    assert len(listed.stdout.splitlines()) == 2


def test_an_older_copy_of_the_store_is_refused_until_accepted_on_purpose(hope, tmp_path):  # noqa: F811
    hope("init", model=False)
    assert hope("ask", "my pin is 4821")[0] == 0
    assert hope("ask", "I like green tea")[0] == 0
    store = tmp_path / "data" / "users" / "default"
    backup = tmp_path / "backup"
    shutil.copytree(store, backup)
    code, _, err = hope("memories", "forget", ids(hope)[0], "--yes", "--no-verify")
    assert code == 0, err
    shutil.rmtree(store)
    shutil.copytree(backup, store)  # the forgotten memory is back in the files ...
    code, _, err = hope("memories", "list")
    one_error_line(code, err, "--accept-older-store")  # ... and refused
    code, out, err = hope("--accept-older-store", "memories", "list")
    assert code == 0, err
    assert "my pin" not in out and "I like green tea" in out  # shredded again
    code, out, _ = hope("audit")
    assert "accept-older-store" in out
    assert hope("memories", "list")[0] == 0  # accepted once; from now on it is the newest


def test_a_damaged_store_can_still_be_salvaged(hope, tmp_path):  # noqa: F811
    hope("init", model=False)
    for text in ("I like green tea", "my dog is Rex"):
        assert hope("ask", text)[0] == 0
    with open(tmp_path / "data" / "users" / "default" / "store.db", "ab") as db:
        db.write(b"x")  # no longer opens
    code, _, err = hope("memories", "export", str(tmp_path / "plain.json"))
    one_error_line(code, err, "--salvage")
    code, out, err = hope("memories", "export", str(tmp_path / "saved.json"), "--salvage")
    assert code == 0 and "salvaged 2 records" in out, err
    saved = (tmp_path / "saved.json").read_text()
    assert "I like green tea" in saved and "my dog is Rex" in saved
