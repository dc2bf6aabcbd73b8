"""The app on the tiny brain (tests/runtime/conftest.py: plain-word replies, a fresh data folder)."""

from __future__ import annotations

import pytest
import torch

from runtime.users import create_user
from tests.runtime.tui.helpers import PASS, make_app


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny model's ops are microseconds; with two intra-op threads on a busy two-core machine they
    wait on each other (a redact took 13 s instead of 0.3 s), so these tests use one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def app(brain, root):
    """An app that unlocks 'ana' by itself (passphrase given, as `hope app` does with $HOPE_PASSPHRASE)."""
    create_user("ana", PASS, root=root)
    return make_app(brain, root, user="ana", passphrase=PASS)
