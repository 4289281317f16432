"""What the phases of a node's apply and uninstall read: :class:`ApplyWork` and
:class:`UninstallWork`, a node job's plan, connection and records (:class:`~wizard.engine.job.
NodeWork`) with what the run gives every node (the strategy, the kubeconfigs to repoint).

Below every phase module (:mod:`wizard.engine.phases`) and above none: a phase reads the job
and the records of the phases before it, and keeps its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from wizard.engine import node_manifest
from wizard.engine.clients import ClientPlan
from wizard.engine.job import NodeWork, Record


@dataclass
class ApplyWork(NodeWork):
    strategy: str = ""  # the profile's strategy: another one installed here is refused
    clients: ClientPlan | None = None  # kubeconfigs to repoint ([clients] repoint = true)

    @property
    def profile_name(self) -> str:
        return self.lock.profile if self.lock is not None else ""

    def new_manifest(self) -> node_manifest.Manifest:
        """What this plan installs on the node (written once it verified)."""
        return node_manifest.Manifest(
            profile=self.profile_name,
            strategy=self.strategy,
            files=tuple(f.path for f in self.plan.files),
            services=self.plan.services,
            run_id=self.lock.run_id if self.lock is not None else "",
            ports=self.plan.ports,
            shares_port=self.plan.shares_port,
            drain_signals=self.plan.drain_signals,
        )

    def probe_until(self, deadline_s: float, url: str | None = None) -> tuple[bool, str]:
        """Probe ``url`` (the plan's verify URL) until it answers 200 or ``deadline_s`` pass."""
        assert self.node is not None
        url = url or self.plan.verify_url
        deadline = time.monotonic() + deadline_s
        while True:
            result = self.node.probe(url)
            if result.ok:
                return True, f"{url} answered 200 in {result.seconds * 1000:.0f} ms"
            last = f"{url}: {result.status} {result.detail}".strip()
            if time.monotonic() >= deadline or self.cancel.is_set():
                return False, last
            time.sleep(0.5)


@dataclass(frozen=True)
class Undone(Record):
    """What an uninstall phase did (``changed_files``: the files it restored or removed)."""

    lines: tuple[str, ...] = ()  # what was done
    problems: tuple[str, ...] = ()  # what could not be done

    @property
    def to_undo(self) -> bool:
        return bool(self.changed_files)


@dataclass
class UninstallWork(NodeWork):
    clients: ClientPlan | None = None  # kubeconfigs to point back first ([clients] repoint)

    @property
    def problems(self) -> tuple[str, ...]:
        return self.folded("problems")

    @property
    def message(self) -> str:
        return "; ".join(self.problems) or (
            "restored" if self.folded("lines") else "nothing of kubeha's found"
        )


def has_clients(job: ApplyWork | UninstallWork) -> bool:
    """A phase on the node's kubeconfigs applies: the profile repoints clients."""
    return job.clients is not None
