"""The app honours the user's privacy settings from the first turn."""

from __future__ import annotations

from runtime.assistant import Assistant
from runtime.users import unlock
from tests.runtime.tui.helpers import PASS, chatting, say


async def test_app_opens_incognito_when_that_is_the_default(app, brain, root):
    a = Assistant.open(unlock("ana", PASS, root=root), brain)
    a.update_settings(incognito_default=True)
    a.close(sleep=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await chatting(pilot)
        assert app.status.incognito and app.chat.has_class("incognito")
        await say(pilot, "my pin is 1234")
        assert await app.engine.call(lambda a: a.memories()) == []
