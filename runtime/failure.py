"""How a command or the app says it stopped: one line on stderr, never a traceback with locals.

A traceback's locals hold the passphrase, data keys and stored text, and an unknown exception's
message may quote any of them; so only the known failures (HopeError, the store's PrivacyError),
whose messages never hold user content, are shown by message, and anything else by its type name.
"""

from __future__ import annotations

import os

from privacy import PrivacyError
from runtime import HopeError

DEBUG_ENV = "HOPE_DEBUG"  # =1: keep the traceback (without locals) for developers


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"


def one_line(error: BaseException) -> str:
    """The line the person sees: what failed and what to do next, with no user content."""
    if isinstance(error, HopeError | PrivacyError):
        return "Error: " + " ".join(str(error).split())
    return (f"Error: hope stopped on an unexpected {type(error).__name__}; what was saved before it is kept. "
            f"Set {DEBUG_ENV}=1 to see where it happened.")
