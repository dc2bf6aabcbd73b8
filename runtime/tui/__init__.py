"""The terminal app: a thin Textual shell over the headless `runtime.assistant` API.

Every action here is one call on the engine, so every flow can also be scripted from the CLI or
Python; the app holds no model, crypto or storage logic of its own (design.md).
"""

from __future__ import annotations

__all__ = ["HopeApp"]


def __getattr__(name: str):
    if name == "HopeApp":  # deferred: importing the package should not import Textual and torch
        from runtime.tui.app import HopeApp

        return HopeApp
    raise AttributeError(name)
