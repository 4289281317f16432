"""Connections a run opens once and uses twice: the preflights (auth, certificates) open a node
before any node changes and hand the open connection to that node's job, so a node costs the
controller one SSH handshake, not two (``bench.fanout_cost``: the preflight's second handshake
had added about half again to kubeha's CPU per node). A connection that dropped meanwhile is
opened anew for the job; one no job takes is closed on the run's way out."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from wizard.engine.remote import RemoteNode

T = TypeVar("T")

Connector = Callable[[str], Callable[[], RemoteNode]]  # node name -> opens that node


def _alive(node: RemoteNode) -> bool:
    """The node's SSH connection still stands (a transport that cannot tell counts as alive)."""
    connection = getattr(node.transport, "connection", None)
    return bool(getattr(connection, "is_connected", True))


class SharedConnections:
    """A connector (name -> opener) for the node jobs, and :meth:`lease` for the preflights."""

    def __init__(self, open_for: Connector, limit: int) -> None:
        self._open_for = open_for
        self._limit = max(1, limit)  # never more kept than the run's concurrency
        self._kept: dict[str, RemoteNode] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.reused = 0  # connections handed from a preflight to a job (counted by the tests)

    @contextlib.contextmanager
    def lease(self, name: str) -> Iterator[RemoteNode]:
        """Node ``name`` for a preflight: the connection kept for it, else a new one, kept
        afterwards for the node's job while fewer than the run's concurrency are kept (the
        run's bound on open connections holds), else closed. The caller must not close it."""
        with self._lock:
            one_at_a_time = self._opening.setdefault(name, threading.Lock())
        with one_at_a_time:
            with self._lock:
                node = self._kept.get(name)
            if node is None:
                node = self._open_for(name)()
            try:
                yield node
            finally:
                with self._lock:
                    keep = name in self._kept or len(self._kept) < self._limit
                    if keep:
                        self._kept[name] = node
                if not keep:
                    _close(node)

    @contextlib.contextmanager
    def first_master(
        self, names: Iterable[str], pick: Callable[[str, RemoteNode], tuple[T | None, str]]
    ) -> Iterator[tuple[T | None, list[str]]]:
        """The first of the masters ``names`` that ``pick`` accepts (it returns (what it found,
        "") or (None, why not: "" to say nothing)), on its leased connection until the block
        ends; (None, the problems) when none does. Each connection is leased (:meth:`lease`),
        never closed here: one a master's job will use is not opened twice."""
        problems: list[str] = []
        for name in names:
            with contextlib.ExitStack() as held:
                try:
                    node = held.enter_context(self.lease(name))
                except Exception as exc:  # an SSH error: the next master may answer
                    problems.append(f"master {name}: cannot connect: {exc}")
                    continue
                found, why = pick(name, node)
                if found is not None:
                    yield found, problems
                    return
                if why:
                    problems.append(f"master {name}: {why}")
        yield None, problems

    def __call__(self, name: str) -> Callable[[], RemoteNode]:
        """The opener of node ``name``'s job: the connection a preflight kept (the job owns it
        from then on and closes it), else a new one."""

        def open_node() -> RemoteNode:
            with self._lock:
                node = self._kept.pop(name, None)
            if node is not None:
                if _alive(node):
                    with self._lock:
                        self.reused += 1
                    return node
                _close(node)
            return self._open_for(name)()

        return open_node

    def close(self) -> None:
        """Close every connection no job took."""
        with self._lock:
            kept, self._kept = self._kept, {}
        for node in kept.values():
            _close(node)


def _close(node: RemoteNode) -> None:
    with contextlib.suppress(Exception):  # closing must not fail the run
        node.transport.close()
