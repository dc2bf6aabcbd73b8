"""The app on the tiny model and a temporary data directory."""

from __future__ import annotations

import pytest
import torch

from runtime.users import create_user
from tests.runtime.tiny_brain import tiny_brain
from tests.runtime.tui.helpers import PASS, make_app


@pytest.fixture(scope="session")
def brain():
    return tiny_brain(max_new_tokens=6)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"


@pytest.fixture(autouse=True)
def plain_words(brain, monkeypatch):
    """Replies of plain words (as tests/runtime/test_conversation.py does), so they read as text."""
    words = torch.tensor(brain.tokenizer.encode(" the lazy dog fox", add_special_tokens=False))
    monkeypatch.setattr("personal_nl.generate.pick", lambda logits, *rest: int(words[logits[words].argmax()]))


@pytest.fixture
def app(brain, root):
    """An app that unlocks 'ana' by itself (passphrase given, as `hope app` does with $HOPE_PASSPHRASE)."""
    create_user("ana", PASS, root=root)
    return make_app(brain, root, user="ana", passphrase=PASS)
