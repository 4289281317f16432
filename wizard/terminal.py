"""The one way kubeha's commands write to the operator's terminal: every character that is not
printable is escaped, and a closed pipe ends the output quietly.

Text printed by a command may come from a node (a diff, a fact, the holder of a node's lock,
verify's detail column, a command's error output) or from a profile. Printed raw, ESC, CR,
backspace, the C1 controls or a bidi override would clear the screen, retitle the window or
overwrite a line the operator reads. :func:`guarded_output` puts an :class:`EscapingStream`
in front of ``sys.stdout`` and ``sys.stderr`` for the length of a command, so no print path,
today's or tomorrow's, can send one: each is shown the way :func:`wizard.textsafe.printable`
shows it (``\\x1b``, ``\\r``, ``\\u202e``). Only the newline that ends a line passes; a field
that must stay on one line (a node's message, a table cell) is escaped whole with
:func:`one_line` by the code that lays it out, so a node cannot forge a line either.

A reader that goes away (``kubeha validate P | head -1``) closes the pipe: the next write fails
with EPIPE. The stream then sends the rest to ``/dev/null`` (no traceback, no "Exception
ignored" at exit) and the command finishes what it was doing; :attr:`EscapingStream.broken`
tells that it happened.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from wizard.textsafe import printable


def one_line(value: object) -> str:
    """``value`` as one line for the terminal: every non-printable character escaped, newlines
    included (a node's text can neither move the cursor nor start a line of its own)."""
    return printable(value)


def escaped(text: str) -> str:
    """``text`` with every non-printable character escaped except the newlines that end lines."""
    if text.isprintable():
        return text
    return "\n".join(printable(part) for part in text.split("\n"))


class EscapingStream:
    """A text stream in front of another: writes are escaped (:func:`escaped`), a closed pipe
    is absorbed; everything else (``fileno``, ``isatty``, ``encoding``) is the wrapped
    stream's."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        try:
            self.stream.write(escaped(text))
        except BrokenPipeError:
            self._closed_pipe()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._closed_pipe()

    def _closed_pipe(self) -> None:
        """The reader is gone: what is still buffered, and all that follows, goes nowhere."""
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def guarded_output() -> Iterator[tuple[EscapingStream, EscapingStream]]:
    """``sys.stdout`` and ``sys.stderr`` escaped for the block, then put back as they were."""
    saved = sys.stdout, sys.stderr
    out, err = EscapingStream(sys.stdout), EscapingStream(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        with contextlib.suppress(Exception):
            out.flush()
            err.flush()
        sys.stdout, sys.stderr = saved
