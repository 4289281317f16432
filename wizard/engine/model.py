"""The engine's inputs and results: options of a run, per-node outcomes, the run summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from wizard.retrofit.kubeconfig import KubeconfigNow


@dataclass(frozen=True)
class Secrets:
    """Held in memory only; never written to a profile, a log, an event or the run state, and
    left out of the repr (a traceback that shows locals shows no secret)."""

    passphrase: str | None = field(default=None, repr=False)
    sudo_password: str | None = field(default=None, repr=False)

    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.passphrase, self.sudo_password) if v)


@dataclass(frozen=True)
class ApplyOptions:
    only: tuple[str, ...] = ()  # node names; empty means every node
    concurrency: int = 32
    dry_run: bool = False
    resume: bool = False
    trust_new_host_keys: bool = False
    # Called from a worker thread when a node's host key is not yet known; returns True to trust
    # (and pin) it. None: refuse unless trust_new_host_keys.
    confirm_host_key: Callable[[str, str], bool] | None = None
    connect_timeout: float = 10.0
    verify_timeout: float = 20.0
    # A static pod's node waits at least this long: kubelet starts the pod (and reads a folder
    # made for it only at its next retry, within 20 s).
    static_pod_verify_timeout: float = 60.0

    @property
    def kubelet_restart_timeout(self) -> float:
        """How long a static pod restarted through its manifest is given to stop and to start
        again: kubelet sees its manifest folder change at its next read (within 20 s) and
        then starts the containers; the verify limit alone (20 s) failed an uninstall on a
        loaded lab ("kubelet did not start it again within 20 s")."""
        return max(self.verify_timeout, self.static_pod_verify_timeout)


class NodeState(StrEnum):
    VERIFIED = "verified"  # new config in place and serving
    UNCHANGED = "unchanged"  # nothing to change, and serving
    ROLLED_BACK = "rolled-back"  # failed after a change; the previous config is back
    UNTOUCHED = "untouched"  # failed before anything changed
    BROKEN = "broken"  # failed and the rollback failed too: needs a person
    CANCELLED = "cancelled"  # stopped by the operator before it changed anything
    PLANNED = "planned"  # dry run: shown, not applied
    REMOVED = "removed"  # uninstall done


OK_STATES = {NodeState.VERIFIED, NodeState.UNCHANGED, NodeState.PLANNED, NodeState.REMOVED}


class FileAction(StrEnum):
    """What an apply does (or, in a dry run, would do) with one file of the plan."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FileDiff:
    path: str
    action: FileAction
    diff: str = ""


@dataclass(frozen=True)
class NodeResult:
    node: str
    state: NodeState
    reason: str = ""
    changed_files: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    reloaded: tuple[str, ...] = ()
    diffs: tuple[FileDiff, ...] = ()
    actions: tuple[str, ...] = ()  # what ran (or, in a dry run, would run)
    rollback: str = ""  # the rollback's own result, when there was one
    kubeconfigs: tuple[KubeconfigNow, ...] = ()  # as the facts found them ([clients] repoint)

    @property
    def ok(self) -> bool:
        return self.state in OK_STATES


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    profile: str
    nodes: tuple[NodeResult, ...]
    log_path: Path | None = None
    cluster_problems: tuple[str, ...] = field(default=())
    # kubeadm's objects through the API ([clients] repoint): (object and field, its diff, or
    # one line saying why nothing changes), as the run's objects phase read them.
    objects: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.nodes) and not self.cluster_problems

    def failed(self) -> tuple[NodeResult, ...]:
        return tuple(n for n in self.nodes if not n.ok)
