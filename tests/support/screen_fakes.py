"""A scripted stand-in for ``wizard.engine.apply.run_apply``: the wizard's tests drive every
screen against it, the real engine is tested on the lab."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wizard.engine.apply_phases import APPLY
from wizard.engine.events import Event, Status
from wizard.engine.model import (
    ApplyOptions,
    FileAction,
    FileDiff,
    KubeconfigNow,
    NodeResult,
    NodeState,
    RunSummary,
    Secrets,
)
from wizard.engine.verify import NodeCheck, VerifyReport
from wizard.profile import Profile
from wizard.render import RenderPlan, build_plan

# The real engine's, in its order; those a profile may not have (clients) are left out.
PHASES = tuple(phase.title for phase in APPLY if phase.applies is None)


@dataclass
class FakeEngine:
    """Emits every phase for every node, in order, and returns a summary.

    ``fail``: node -> reason, that node fails in ``activate`` and is rolled back.
    ``host_keys``: nodes whose host key is new; their answer is recorded in ``answers``.
    ``wait_for_cancel_after``: after this many nodes, block until ``cancel`` is set; the
    remaining nodes are then reported cancelled.
    With ``[clients] repoint`` a dry run's facts find every listed kubeconfig on every node
    naming the first master, but those in ``absent`` (paths).
    """

    fail: dict[str, str] = field(default_factory=dict)
    host_keys: tuple[str, ...] = ()
    wait_for_cancel_after: int | None = None
    log_path: Path | None = Path("/var/log/kubeha/run-0001.jsonl")
    calls: list[ApplyOptions] = field(default_factory=list)
    plans: list[RenderPlan] = field(default_factory=list)  # the plan each run was handed
    secrets_seen: list[Secrets] = field(default_factory=list)
    answers: dict[str, bool] = field(default_factory=dict)
    cancel_seen: threading.Event = field(default_factory=threading.Event)
    waiting: threading.Event = field(default_factory=threading.Event)
    absent: tuple[str, ...] = ()
    # What a run reads of kubeadm's objects (RunSummary.objects): (object and field, diff).
    objects: tuple[tuple[str, str], ...] = ()
    # Sends nothing over any network, so the wizard lets it run the example profiles (whose
    # documentation addresses the real engine must never reach); True plays the real one.
    connects: bool = False

    def __call__(
        self,
        plan: RenderPlan,
        options: ApplyOptions,
        sink: Callable[[Event], None],
        cancel: threading.Event | None = None,
        secrets: Secrets | None = None,
    ) -> RunSummary:
        self.calls.append(options)
        self.secrets_seen.append(secrets or Secrets())
        cancel = cancel or threading.Event()
        self.plans.append(plan)
        names = [n.node for n in plan.nodes if not options.only or n.node in options.only]
        results: list[NodeResult] = []
        sink(Event(None, "run", Status.STARTED, f"run of {len(names)} node(s)"))
        for index, name in enumerate(names):
            if self.wait_for_cancel_after is not None and index == self.wait_for_cancel_after:
                self.waiting.set()
                if cancel.wait(10):
                    self.cancel_seen.set()
            if cancel.is_set():
                state = NodeState.CANCELLED if index % 2 else NodeState.UNTOUCHED
                results.append(NodeResult(name, state, "cancelled before connect"))
                continue
            results.append(self._node(plan, name, options, sink))
        return RunSummary(
            "run-0001", plan.profile.name, tuple(results), self.log_path, objects=self.objects
        )

    def verify(
        self, profile: Profile, options: ApplyOptions, secrets: Secrets | None = None
    ) -> VerifyReport:
        """The summary's verify: every node answers through its balancer, but the failed ones."""
        plan = build_plan(profile)
        masters = [m.name for m in profile.masters]
        checks = tuple(
            NodeCheck(n.node, n.verify_url, True, "200", 0.004, masters[i % len(masters)])
            if n.node not in self.fail
            else NodeCheck(n.node, n.verify_url, False, "curl exit 7", 0.0, "-", "refused")
            for i, n in enumerate(plan.nodes)
        )
        return VerifyReport(profile.name, profile.strategy, checks)

    def kubeconfigs_of(self, profile: Profile) -> tuple[KubeconfigNow, ...]:
        """The facts a dry run reports of the profile's kubeconfigs on a node."""
        first = profile.masters[0]
        server = f"https://{first.address}:{first.apiserver_port}"
        return tuple(
            KubeconfigNow(t.path, t.unit, False)
            if t.path in self.absent
            else KubeconfigNow(t.path, t.unit, True, (server,))
            for t in profile.clients.targets()
        )

    def _node(self, plan: RenderPlan, name: str, options: ApplyOptions, sink) -> NodeResult:
        node_plan = plan.for_node(name)
        if name in self.host_keys:
            sink(Event(name, "connect", Status.HOSTKEY, "new host key"))
            confirm = options.confirm_host_key
            trusted = bool(confirm and confirm(node_plan.address, "SHA256:fake+" + name))
            self.answers[name] = trusted
            if not trusted:
                sink(Event(name, "connect", Status.FAILED, "host key refused"))
                return NodeResult(name, NodeState.UNTOUCHED, "host key not trusted")
        for step, phase in enumerate(PHASES):
            progress = (step + 1) / len(PHASES)
            sink(Event(name, phase, Status.STARTED, f"{phase}…"))
            if phase == "activate" and name in self.fail:
                sink(Event(name, phase, Status.FAILED, self.fail[name], ("nginx: [emerg]",)))
                sink(Event(name, "rollback", Status.OK, "previous config restored"))
                return NodeResult(name, NodeState.ROLLED_BACK, self.fail[name])
            lines = (f"{phase} {f.path}" for f in node_plan.files) if phase == "upload" else ()
            sink(Event(name, phase, Status.OK, f"{phase} ok", tuple(lines), progress=progress))
        if options.dry_run:
            diffs = tuple(
                FileDiff(
                    f.path, FileAction.CREATE, f"--- /dev/null\n+++ {f.path}\n+{f.content[:20]}\n"
                )
                for f in node_plan.files
            )
            return NodeResult(
                name, NodeState.PLANNED, diffs=diffs, kubeconfigs=self.kubeconfigs_of(plan.profile)
            )
        return NodeResult(
            name, NodeState.VERIFIED, changed_files=tuple(f.path for f in node_plan.files)
        )
