"""What the phases of a node's apply and uninstall read: :class:`ApplyWork` and
:class:`UninstallWork`, a node job's plan, connection and records (:class:`~wizard.engine.job.
NodeWork`) with what the run gives every node (the strategy, the kubeconfigs to repoint).

Below every phase module (:mod:`wizard.engine.phases`) and above none: a phase reads the job
and the records of the phases before it, and keeps its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine import node_manifest
from wizard.engine.clients import ClientPlan
from wizard.engine.job import NodeWork, Record
from wizard.engine.probe import ProbeSettings, ca_used, parse_probe, probe_script, refusal_message
from wizard.engine.remote import RemoteNode


@dataclass
class ApplyWork(NodeWork):
    strategy: str = ""  # the profile's strategy: another one installed here is refused
    clients: ClientPlan | None = None  # kubeconfigs to repoint ([clients] repoint = true)
    # How the verify probe asks (the check's credentials, the CA it checks against).
    probe_settings: ProbeSettings = field(default_factory=ProbeSettings)
    # The node's own auth check before anything changes (the nodes the run's auth preflight
    # did not ask): the problems of its view of the masters (wizard.engine.auth_preflight).
    auth_check: Callable[[str, RemoteNode], list[str]] | None = None

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

    def probe_once(self, url: str, timeout: float = 3.0) -> tuple[bool, bool, str]:
        """One probe of ``url``: (answered, worth waiting for, message). It answered with 200
        (with ``health_check.auth = "alive-on-401"`` also 401 or 403), against the cluster's
        CA where the node has one (:mod:`wizard.engine.probe`), else insecure: the message
        says which. A CA path the node shows as not a regular file is not worth waiting for."""
        assert self.node is not None
        settings = self.probe_settings
        result = self.node.sh(probe_script(url, timeout, settings), timeout=timeout + 12)
        used, refused = ca_used(result.stdout)
        if refused is not None:
            return False, False, refusal_message(self.plan.node, refused)
        ok, status, seconds, _, detail = parse_probe(
            result.stdout, result.stderr, result.returncode, settings.ok_codes
        )
        checked = f"certificate checked against {used}" if used else "certificate not checked"
        if ok:
            return True, True, f"{url} answered {status} in {seconds * 1000:.0f} ms ({checked})"
        return False, True, f"{url}: {status} {detail}".strip() + f" ({checked})"

    def probe_until(self, deadline_s: float, url: str | None = None) -> tuple[bool, str]:
        """Probe ``url`` (the plan's verify URL) until it answers or ``deadline_s`` pass."""
        url = url or self.plan.verify_url
        deadline = time.monotonic() + deadline_s
        while True:
            ok, again, message = self.probe_once(url)
            if ok:
                return True, message
            if not again or time.monotonic() >= deadline or self.cancel.is_set():
                return False, message
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
    strategy: str = ""  # the profile's strategy: another profile's install of another is left

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
