"""Engine, CLI and app tests share one tiny brain that replies in plain words, and a fresh data folder."""

from __future__ import annotations

import pytest

from tests.runtime.tiny_brain import speak_plain_words, tiny_brain


@pytest.fixture(scope="session")
def brain():
    return tiny_brain()


@pytest.fixture(autouse=True)
def plain_words(request, monkeypatch):
    """Replies in plain words, so they read (and round-trip) as text; only where a test uses the brain."""
    if "brain" in request.fixturenames:
        speak_plain_words(monkeypatch, request.getfixturevalue("brain"))


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"
