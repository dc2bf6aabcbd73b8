"""Unlock and create: passphrase twice on creation, Argon2id progress, a clear wrong-passphrase message."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, Select

from privacy import WrongPassphrase
from runtime.tui.screens.chat import ChatScreen
from runtime.tui.screens.unlock import UnlockScreen
from runtime.users import create_user, list_users, unlock
from tests.runtime.tui.helpers import PASS, chatting, enter, make_app, until


def message(app) -> str:
    return str(app.screen.query_one("#unlock-message", Label).content)


async def test_creating_a_user_opens_the_chat(brain, root):
    app = make_app(brain, root)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        assert app.screen.query_one("#create-form").display  # no users yet: the create form
        await pilot.press(*"ana", "enter")  # typed; the passphrases go in whole (Pilot types slowly)
        assert app.focused.id == "new-passphrase"
        await enter(pilot, "#new-passphrase", PASS)
        assert app.focused.id == "new-confirm"
        await enter(pilot, "#new-confirm", PASS)
        await chatting(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert app.status.user == "ana" and app.status.episodes == 0
    assert list_users(root) == ["ana"]
    unlock("ana", PASS, root=root)  # the store the form made opens with that passphrase


async def test_passphrases_that_differ_or_are_short_are_refused(brain, root):
    app = make_app(brain, root)
    async with app.run_test(size=(100, 30)) as pilot:
        await enter(pilot, "#new-name", "ana")
        await enter(pilot, "#new-passphrase", PASS)
        await enter(pilot, "#new-confirm", "something else")
        assert "differ" in message(app)
        assert app.focused.id == "new-passphrase"
        await enter(pilot, "#new-passphrase", "short")
        await enter(pilot, "#new-confirm", "short")
        await until(pilot, lambda: "at least" in message(app), "the too-short message")
        assert isinstance(app.screen, UnlockScreen)
    assert list_users(root) == []


async def test_wrong_passphrase_says_so_and_another_try_unlocks(brain, root):
    create_user("ana", PASS, root=root)
    app = make_app(brain, root)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.screen.query_one("#unlock-form").display
        await enter(pilot, "#passphrase", "not the passphrase")
        await until(pilot, lambda: "Wrong passphrase" in message(app), "the wrong-passphrase message")
        assert "Nothing was changed" in message(app)
        assert app.screen.query_one("#passphrase", Input).value == ""  # cleared for the next try
        assert app.chat is None and not app.engine.is_open
        await enter(pilot, "#passphrase", PASS)
        await chatting(pilot)
    with pytest.raises(WrongPassphrase):  # the wrong try changed nothing
        unlock("ana", "not the passphrase", root=root)


async def test_a_choice_of_user_when_several_exist(brain, root):
    create_user("ana", PASS, root=root)
    create_user("ben", "another passphrase", root=root)
    app = make_app(brain, root, user="ben")
    async with app.run_test(size=(100, 30)) as pilot:
        select = app.screen.query_one("#user-select", Select)
        assert select.value == "ben"  # --user preselects
        await enter(pilot, "#passphrase", "another passphrase")
        await chatting(pilot)
        assert app.status.user == "ben"


async def test_a_script_names_the_user_and_passphrase(app):
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        assert app.status.user == "ana"
