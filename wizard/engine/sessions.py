"""One connection per node for a whole command: ``kubeha verify --drill`` checks every node, then
runs the drill's loops on the same connections. A node is connected the first time it is asked
for and kept; :meth:`NodeSessions.close` (or leaving the ``with`` block) closes every one, then
the connector's shared jump hosts. A node that could not be connected is tried again the next
time it is asked for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from types import TracebackType

from wizard.engine.connector import SshConnector
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.remote import RemoteNode
from wizard.profile import Profile

Opener = Callable[[str], Callable[[], RemoteNode]]


class NodeSessions:
    """The command's open nodes by name, opened through ``opener`` (the SSH connector, or the
    tests' in-memory nodes); ``on_close`` runs after every node is closed."""

    def __init__(self, opener: Opener, on_close: Callable[[], None] | None = None) -> None:
        self._opener = opener
        self._on_close = on_close
        self._nodes: dict[str, RemoteNode] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def over_ssh(cls, profile: Profile, options: ApplyOptions, secrets: Secrets) -> NodeSessions:
        """The profile's nodes over SSH (host keys checked, jump hosts shared)."""
        connector = SshConnector(profile, options, secrets)
        return cls(connector, connector.close)

    def node(self, name: str) -> RemoteNode:
        """Node ``name``'s connection, opened now if it is not open yet (raises as the opener
        does when it cannot be reached)."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # two threads asking for one node open it once
            node = self._nodes.get(name)
            if node is None:
                node = self._opener(name)()
                self._nodes[name] = node
            return node

    def close(self) -> None:
        """Close every node opened, then the opener's own (its jump hosts)."""
        with self._guard:
            nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            with contextlib.suppress(Exception):
                node.transport.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> NodeSessions:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
