"""One node's uninstall: stop kubeha's services, put back every file kubeha replaced (or remove
the ones it created), and return each unit to the state it had before kubeha first touched it.
Holds the node's lock from connect to disconnect, as an apply does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine import node_lock
from wizard.engine.events import Event, Status
from wizard.engine.locks import LockHolder
from wizard.engine.model import ApplyOptions, NodeResult, NodeState
from wizard.engine.node_journal import JOURNAL
from wizard.engine.node_manifest import MANIFEST
from wizard.engine.remote import VERIFIED_URL_FILE, RemoteNode
from wizard.errors import KubehaError
from wizard.render import NodePlan


@dataclass
class UninstallJob:
    plan: NodePlan
    connect: Callable[[], RemoteNode]
    emit: Callable[[Event], None]
    options: ApplyOptions
    node: RemoteNode | None = None
    changes: list[str] = field(default_factory=list)
    lock: LockHolder | None = None  # the run that takes the node's lock (None: no lock)
    locked: bool = False

    @property
    def name(self) -> str:
        return self.plan.node

    def _event(
        self, phase: str, status: Status, message: str = "", lines=(), duration=None, progress=None
    ) -> None:
        self.emit(Event(self.name, phase, status, message, tuple(lines), duration, progress))

    def run(self) -> NodeResult:
        began = time.monotonic()
        try:
            self._event("connect", Status.STARTED, progress=0.1)
            self.node = self.connect()
            message = "connected"
            if self.lock is not None:
                message += "; " + node_lock.take(self.node, self.lock)
                self.locked = True
            self._event("connect", Status.OK, message, progress=0.2)
        except (KubehaError, OSError, RuntimeError) as exc:
            self._event("connect", Status.FAILED, str(exc))
            return NodeResult(self.name, NodeState.UNTOUCHED, str(exc))
        node = self.node
        lines: list[str] = []
        problems: list[str] = []
        self._event("activate", Status.STARTED, "stopping kubeha's services", progress=0.4)
        for unit in self.plan.services:
            node.systemctl("stop", unit)
        for argv in self.plan.cleanup:  # e.g. ipvs: the virtual server and the VIP
            if node.run(list(argv), timeout=30).ok:
                lines.append(f"ran {' '.join(argv)}")
        for rendered in reversed(self.plan.files):
            try:
                outcome = node.restore_original(rendered.path)
            except RuntimeError as exc:
                problems.append(str(exc))
                continue
            if outcome != "kept":
                lines.append(f"{outcome} {rendered.path}")
                self.changes.append(rendered.path)
        if any(p.startswith("/etc/systemd/system/") for p in self.changes):
            node.systemctl("daemon-reload")
        for unit in self.plan.services:
            before = node.recall_unit_state(unit)
            if before is None:
                continue
            enabled, active = before
            if node.run(["systemctl", "cat", unit], timeout=20).ok:
                node.systemctl("enable" if enabled else "disable", unit)
                if active:
                    result = node.systemctl("restart", unit)
                    if not result.ok:
                        problems.append(f"{unit} did not start on its original config")
            lines.append(
                f"{unit}: back to {'enabled' if enabled else 'disabled'}, {'running' if active else 'stopped'}"
            )
            node.forget_unit_state(unit)
        # A change an interrupted run left in the journal is undone with everything else.
        node.run(["rm", "-f", VERIFIED_URL_FILE, JOURNAL, MANIFEST])
        status = Status.FAILED if problems else Status.CHANGED if lines else Status.UNCHANGED
        message = "; ".join(problems) or ("restored" if lines else "nothing of kubeha's found")
        self._event("activate", status, message, lines, time.monotonic() - began, 1.0)
        if problems:
            return NodeResult(self.name, NodeState.BROKEN, message, tuple(self.changes))
        return NodeResult(
            self.name, NodeState.REMOVED, message, tuple(self.changes), actions=tuple(lines)
        )

    def disconnect(self) -> None:
        node, self.node = self.node, None
        if node is not None:
            try:
                node_lock.release_for(self, node)
            finally:
                node.transport.close()
