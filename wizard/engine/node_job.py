"""One node's apply: the state its phases share (:data:`~wizard.engine.apply_phases.APPLY`:
connect, facts, install, upload, activate, verify), its result, and the end of its rollback.

The job never leaves the node half-changed: either every file is new and the proxy verified, or
every file it replaced is back (the upload's undo) and the services re-activated on the previous
config, which is probed at the URL that verified it last. From connect to disconnect it holds
the node's lock (:mod:`wizard.engine.node_lock`; not in a dry run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

from wizard.engine import node_journal, node_manifest
from wizard.engine.apply_phases import APPLY, put_in_place
from wizard.engine.clients import ClientChange, ClientPlan
from wizard.engine.events import Status
from wizard.engine.facts import Facts
from wizard.engine.file_changes import Change
from wizard.engine.job import NodeWork
from wizard.engine.model import FileDiff, KubeconfigNow, NodeResult, NodeState
from wizard.engine.phase import Phase, PhaseName, progress_marks
from wizard.engine.probe import ProbeSettings, ca_used, parse_probe, probe_script, refusal_message
from wizard.engine.runner import ROLLBACK_PROGRESS, run_phases

# A node's progress once it reaches a phase of its apply (the deploy screen's bar).
PROGRESS = {**progress_marks(APPLY), PhaseName.ROLLBACK: ROLLBACK_PROGRESS}


@dataclass
class NodeJob(NodeWork):
    phases: ClassVar[tuple[Phase, ...]] = APPLY

    facts: Facts | None = None
    changes: list[Change] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    diffs: list[FileDiff] = field(default_factory=list)
    served_before: bool | None = None
    previous_url: str | None = None  # the URL that verified this node's previous config
    units_before: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    journal: node_journal.Journal | None = None  # the files this run has put in place
    inherited: tuple[node_journal.JournalEntry, ...] = ()  # put in place by a run that died
    strategy: str = ""  # the profile's strategy: another one installed here is refused
    installed: node_manifest.Manifest | None = None  # what the node said kubeha installed
    clients: ClientPlan | None = None  # kubeconfigs to repoint ([clients] repoint = true)
    client_changes: list[ClientChange] = field(default_factory=list)  # repointed by this run
    # Another strategy's install this plan takes over in place (wizard.engine.retire).
    retiring: node_manifest.Manifest | None = None
    stopped_old: list[str] = field(default_factory=list)  # its services this run stopped
    retired: str = ""  # the strategy it took over from, once done
    kubeconfigs: tuple[KubeconfigNow, ...] = ()  # the listed kubeconfigs as the facts found them
    # How the verify probe asks (the check's credentials, the CA it checks against).
    probe_settings: ProbeSettings = field(default_factory=ProbeSettings)

    @property
    def profile_name(self) -> str:
        return self.lock.profile if self.lock is not None else ""

    @property
    def changed(self) -> bool:
        """Something to roll back: a file this run, or a run that died, put in place, or the
        old balancer of a take-over stopped."""
        return bool(self.changes or self.inherited or self.client_changes or self.stopped_old)

    def progress(self, phase: PhaseName) -> float | None:
        return PROGRESS.get(phase)

    def run(self) -> NodeResult:
        return run_phases(self, self.phases)

    # --- how it ends ------------------------------------------------------------------------

    def finished(self) -> NodeResult:
        """Every phase passed: verified, unchanged, or (a dry run) planned."""
        if self.options.dry_run:
            return self.result(NodeState.PLANNED, "dry run: nothing changed")
        if self.retired:
            self.event(PhaseName.DONE, Status.OK, f"verified; took over from {self.retired}")
            return self.result(
                NodeState.VERIFIED, f"new config verified; took over from {self.retired}"
            )
        if self.changes or self.restarted or self.reloaded or self.client_changes:
            self.event(PhaseName.DONE, Status.OK, "verified")
            return self.result(NodeState.VERIFIED, "new config verified")
        if not self.plan.files:
            self.event(PhaseName.DONE, Status.OK, "verified (nothing to install on this node)")
            return self.result(
                NodeState.UNCHANGED,
                "reaches a ready apiserver through the load balancer; nothing to install here",
            )
        self.event(PhaseName.DONE, Status.OK, "unchanged and verified")
        return self.result(NodeState.UNCHANGED, "already up to date; nothing written or restarted")

    def result(self, state: NodeState, reason: str, rollback: str = "") -> NodeResult:
        return NodeResult(
            node=self.name,
            state=state,
            reason=reason,
            changed_files=tuple(c.rendered.path for c in self.changes)
            + tuple(c.target.path for c in self.client_changes),
            restarted=tuple(self.restarted),
            reloaded=tuple(self.reloaded),
            diffs=tuple(self.diffs),
            actions=tuple(self.actions),
            rollback=rollback,
            kubeconfigs=self.kubeconfigs,
        )

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

    def after_undo(self, problems: list[str]) -> tuple[Status, str]:
        """The rollback's end, once every file is back: re-activate the previous config, clear
        the node's journal, and check that the previous config serves again."""
        assert self.node is not None
        if any(f.path.startswith("/etc/systemd/system/") for f in put_in_place(self)):
            self.node.systemctl("daemon-reload")
        for unit, (enabled, active) in self.units_before.items():
            # Back to how the unit was before this run: running on the restored config, or
            # stopped (and disabled) when it was not running before.
            if active:
                if not self.node.systemctl("restart", unit).ok:
                    problems.append(f"{unit} did not restart on the previous config")
            else:
                self.node.systemctl("stop", unit)
            if not enabled:
                self.node.systemctl("disable", unit)
        if not problems:
            try:
                node_journal.clear(self.node)
            except RuntimeError as exc:
                problems.append(str(exc))
        if problems:
            return Status.FAILED, "rollback incomplete: " + "; ".join(problems)
        if self.served_before and self.previous_url:
            ok, detail = self.probe_until(10, self.previous_url)
            if ok:
                return Status.OK, f"previous config restored and serving again ({detail})"
            return Status.FAILED, f"previous config restored but NOT serving: {detail}"
        return Status.OK, "previous state restored (it was not serving before this run either)"

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
