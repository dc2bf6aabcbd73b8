"""Text at the edges: what a person sends is checked before anything reads it, and what the program
prints to a terminal cannot drive that terminal.

Bytes that are not UTF-8 reach Python as lone surrogates (stdin and argv decode with
surrogateescape); the tokenizer and the store cannot take them, so a message holding them is
refused with one line. Control characters (escape sequences, NUL, carriage returns) carry no
meaning for the model and are dropped. On output, stored text may predate these checks or come
from an imported bundle, so control and bidi-override characters are shown as escapes.
"""

from __future__ import annotations

import re

from runtime import HopeError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 controls except tab and newline
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_OR_NEWLINE = re.compile(_UNSAFE.pattern[:-1] + r"\n\t]")


def is_text(text: str) -> bool:
    """False when ``text`` holds lone surrogates: bytes that did not decode as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def checked_message(text: str) -> str:
    """``text`` as the model may read it: control characters other than tab and newline removed;
    a HopeError (naming no content) when it holds bytes that are not UTF-8."""
    if not is_text(text):
        raise HopeError("the message holds bytes that are not UTF-8 text; nothing of it was read or kept")
    return _CONTROL.sub("", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {"\n": "\\n", "\t": "\\t"}.get(match.group()) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` safe to print on a terminal: control, bidi-override and undecodable characters shown
    as escapes (``\\x1b``, ``\\u202e``); with ``one_line`` newlines and tabs too (a table row)."""
    return (_UNSAFE_OR_NEWLINE if one_line else _UNSAFE).sub(_escape, text)
