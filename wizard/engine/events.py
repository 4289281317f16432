"""Typed events the engine emits for every step, and the sinks that consume them.

The headless console output, the JSON-lines run log and the wizard's deploy screen are all sinks.
Events never carry a secret: the engine redacts every known secret from text before emitting.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from wizard.jsonlines import json_line
from wizard.paths import make_private_dirs
from wizard.terminal import one_line


class Status(StrEnum):
    STARTED = "started"
    OK = "ok"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    INFO = "info"
    HOSTKEY = "hostkey"  # a host key needs the operator's confirmation


@dataclass(frozen=True)
class Event:
    """One thing that happened. ``node`` is None for run-level events (phase ``run``)."""

    node: str | None
    phase: str
    status: Status
    message: str = ""
    lines: tuple[str, ...] = ()
    duration: float | None = None
    progress: float | None = None  # the node's progress, 0..1
    time: float = field(default_factory=time.time)
    run_id: str = ""

    def to_json(self) -> str:
        """One JSON line: the fields above plus ``schema_version`` and ``kind: "event"``
        (docs/JSON.md)."""
        return json_line("event", self)


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


class MultiSink:
    """Fans one event out to several sinks; thread-safe, in order."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._sinks = list(sinks)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            for sink in self._sinks:
                sink(event)


class JsonLinesSink:
    """Appends every event to a JSON-lines file, flushed per line so a crash loses nothing.
    The file is the operator's alone (0600 whatever the umask, an existing one tightened)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        make_private_dirs(path.parent)  # 0700, parents too, whatever the umask
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        os.fchmod(fd, 0o600)
        self._handle = os.fdopen(fd, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._handle.write(event.to_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


_SYMBOLS = {
    Status.STARTED: "..",
    Status.OK: "ok",
    Status.CHANGED: "~~",
    Status.UNCHANGED: "==",
    Status.FAILED: "!!",
    Status.SKIPPED: "--",
    Status.INFO: "  ",
    Status.HOSTKEY: "??",
}


class ConsoleSink:
    """One line per node step as it happens; output lines indented beneath it."""

    def __init__(self, stream: IO[str] | None = None, show_started: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.show_started = show_started

    def __call__(self, event: Event) -> None:
        if event.status is Status.STARTED and not self.show_started:
            return
        who = one_line(event.node or "*")
        took = f" ({event.duration:.1f}s)" if event.duration is not None else ""
        print(  # a node's text escaped, each field on its own line (wizard.terminal)
            f"{_SYMBOLS[event.status]} {who:<14} {one_line(event.phase):<10} "
            f"{one_line(event.message)}{took}",
            file=self.stream,
        )
        for line in event.lines:
            print(f"   {'':<14} {'':<10} | {one_line(line)}", file=self.stream)
        self.stream.flush()
