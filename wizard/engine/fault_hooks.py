"""Faults a test can inject into a real run through the environment, to prove that a node is
finished or rolled back by the next run whatever moment kubeha dies at.

``KUBEHA_TEST_FAULT=kill-after-staged|kill-after-renamed|kill-after-activated`` kills this
process (SIGKILL: no clean-up of any kind) at that point of the first node that reaches it;
``drop-ssh-in-activate`` drops the first node's SSH connection as activation starts (every
later command on it fails, the rollback's too, as when the network or the laptop goes away).
Unset (always, outside tests), nothing happens.
"""

from __future__ import annotations

import os
import signal
import threading

from wizard.engine.transport import TransportError

VARIABLE = "KUBEHA_TEST_FAULT"
KILL_POINTS = ("staged", "renamed", "activated")


def kill_point(point: str) -> None:
    """SIGKILL this process when the test asked to die at ``point``."""
    if os.environ.get(VARIABLE) == f"kill-after-{point}":
        os.kill(os.getpid(), signal.SIGKILL)


_dropped = threading.Event()


class DroppedTransport:
    """A transport whose connection is gone: every command fails as a dead SSH session does."""

    def __init__(self, label: str) -> None:
        self.label = label

    def run(self, argv, timeout: float = 120, stdin=None):
        raise TransportError(f"{self.label}: the SSH connection dropped")

    def put(self, data: bytes, path: str, mode: int) -> None:
        raise TransportError(f"{self.label}: the SSH connection dropped")

    def close(self) -> None:
        pass


def drop_ssh(node, phase: str) -> None:
    """Drop ``node``'s SSH connection (once per process) when the test asked for it at
    ``phase``."""
    if os.environ.get(VARIABLE) != f"drop-ssh-in-{phase}" or _dropped.is_set():
        return
    _dropped.set()
    node.transport.close()
    node.transport = DroppedTransport(node.transport.label)
