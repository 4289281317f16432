"""Text from a profile (or a path the operator typed), made safe to print on a terminal.

A key, value or file name may hold ESC, CR, backspace or bidi controls; printed raw they would
move the cursor, recolour or overwrite what the operator reads. ``printable`` escapes every
character that is not printable the way ``repr`` does (``\\n``, ``\\x1b``, ``\\u202e``) and leaves
everything else as it is; ``shown`` is a short, bounded ``repr`` of any value, even a deeply
nested or huge one.
"""

from __future__ import annotations

import reprlib

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
SHOWN_MAX = 80


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with every non-printable character escaped (a space stays a space)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _bounded_repr() -> reprlib.Repr:
    limits = reprlib.Repr()
    limits.maxlevel = 3
    limits.maxlist = limits.maxtuple = limits.maxset = 6
    limits.maxdict = 4
    limits.maxstring = SHOWN_MAX + 20
    limits.maxlong = limits.maxother = SHOWN_MAX
    return limits


_REPR = _bounded_repr()


def shown(value: object, limit: int = SHOWN_MAX) -> str:
    """A ``repr`` of ``value`` of at most ``limit`` characters, non-printables escaped; nesting
    is cut at three levels, so no value can recurse or flood the terminal."""
    text = repr(value[: limit + 1]) if isinstance(value, str) else printable(_REPR.repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_path(path: object) -> str:
    """A path as the operator typed it, escaped when it holds control characters."""
    text = str(path)
    return text if text.isprintable() else repr(text)
