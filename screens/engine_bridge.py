"""The bridge between the deploy engine, running in a thread worker, and a screen.

The engine calls :meth:`EngineBridge.sink` from its worker threads for every step. Events are
only buffered: no message per event. The screen drains the buffer on a timer, once per frame
(:data:`FRAME_S`), and applies everything that arrived since in one go, so a flood of events
from 200 nodes costs at most 30 updates a second, however fast it comes. A host key that needs the operator becomes a :class:`HostKeyRequest`; the engine's worker
thread waits for the answer (or for cancel) while the UI stays live.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

from wizard.engine.events import Event
from wizard.engine.model import RunSummary

FRAME_S = 1 / 30  # how often a running screen applies the buffered events


class EventsReady(Message):
    """New engine events are waiting in the bridge's buffer (no longer posted: screens drain
    the buffer every frame; kept for screens that still handle it)."""

    def __init__(self, bridge: EngineBridge) -> None:
        super().__init__()
        self.bridge = bridge


class RunFinished(Message):
    def __init__(self, summary: RunSummary) -> None:
        super().__init__()
        self.summary = summary


class RunFailed(Message):
    """The engine raised instead of returning a summary."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


@dataclass
class HostKeyReply:
    """Filled in by the UI thread; the engine's worker thread waits on ``done``."""

    done: threading.Event = field(default_factory=threading.Event)
    trusted: bool = False

    def answer(self, trusted: bool | None) -> None:
        """The operator's answer; None (the modal dismissed without one) refuses."""
        self.trusted = bool(trusted)
        self.done.set()


class HostKeyRequest(Message):
    def __init__(self, host: str, fingerprint: str, reply: HostKeyReply) -> None:
        super().__init__()
        self.host = host
        self.fingerprint = fingerprint
        self.reply = reply


class EngineBridge:
    """One run's buffer, cancel flag and host-key channel. Thread-safe where it must be."""

    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._buffer: list[Event] = []
        self.received = 0  # events sunk so far

    def sink(self, event: Event) -> None:
        """Called by the engine from any thread: buffered until the screen's next frame."""
        with self._lock:
            self._buffer.append(event)
            self.received += 1

    def drain(self) -> list[Event]:
        """Called on the UI thread: every event buffered since the last drain."""
        with self._lock:
            events, self._buffer = self._buffer, []
        return events

    def confirm_host_key(self, host: str, fingerprint: str) -> bool:
        """Called by the engine from a worker thread; blocks until the operator answers."""
        reply = HostKeyReply()
        self.target.post_message(HostKeyRequest(host, fingerprint, reply))
        while not reply.done.wait(0.1):
            if self.cancel.is_set():
                return False
        return reply.trusted
