"""``kubeha verify --drill`` for a profile: pick the master, make the fault, run the loops over
SSH on every client node.

The fault is the caller's when it has its own means of taking a master away (the lab's kill,
cut and drain controls, injected by :mod:`wizard.commands.lab_drill`: the engine never imports
the lab); otherwise the drill is on a real cluster, and only after the operator named the
master is its kube-apiserver stopped and started again over SSH (:class:`SshApiserverFault`).
"""

from __future__ import annotations

import dataclasses

from wizard.engine.drill import REAL, DrillReport, DrillTiming, Fault, Runner, run_loops
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.remote import RemoteNode
from wizard.engine.sessions import NodeSessions
from wizard.errors import CheckFailed, KubehaError
from wizard.plan import RenderPlan
from wizard.profile import Profile
from wizard.render import build_plan
from wizard.strategies import registry

KINDS = ("kill", "cut", "drain")
STATIC_POD = "/etc/kubernetes/manifests/kube-apiserver.yaml"
PARKED = "/etc/kubernetes/kube-apiserver.yaml.kubeha-drill"
UNIT = "kube-apiserver.service"


class SshApiserverFault(Fault):
    """A real master: stop its kube-apiserver (a systemd unit, or kubeadm's static pod moved out
    of the manifests folder) and start it again. Made only after the operator agreed."""

    def __init__(self, node: RemoteNode) -> None:
        self.node = node
        self.how = ""

    def take(self) -> None:
        script = (
            f"if systemctl cat {UNIT} >/dev/null 2>&1; then systemctl stop {UNIT} && echo unit; "
            f"elif [ -f {STATIC_POD} ]; then mv {STATIC_POD} {PARKED} && echo static-pod; "
            f"else echo none; exit 3; fi"
        )
        result = self.node.sh(script, timeout=60)
        if not result.ok:
            raise CheckFailed("found no kube-apiserver unit or static pod to stop on the master")
        self.how = result.stdout.strip()

    def restore(self) -> None:
        if self.how == "unit":
            self.node.run(["systemctl", "start", UNIT], timeout=60)
        elif self.how == "static-pod":
            self.node.run(["mv", PARKED, STATIC_POD], timeout=60)


VIP_HOLDER = "vip-holder"  # --master: whichever node holds the VIP when the drill starts


def choose_master(profile: Profile, master: str | None) -> str:
    names = [m.name for m in profile.masters]
    if master is None:
        return names[0]
    if master == VIP_HOLDER:
        with_holder = registry.offering("has_vip_holder")
        if profile.strategy not in with_holder:
            raise KubehaError(
                f"--master: {VIP_HOLDER!r}: only a {' or '.join(with_holder)} profile has a "
                f"VIP holder (this one is {profile.strategy}); expected one of {', '.join(names)}"
            )
        return VIP_HOLDER
    if master not in names:
        raise KubehaError(
            f"--master: {master!r} is not a master of {profile.name!r}: "
            f"expected one of {', '.join(names)} or {VIP_HOLDER}"
        )
    return master


def resolve_vip_holder(profile: Profile, holders: list[str], kind: str) -> str:
    """The node that holds the VIP (from verify), for ``--master vip-holder``."""
    if len(holders) != 1:
        raise CheckFailed(
            f"--master {VIP_HOLDER}: expected exactly one node holding the VIP, found "
            f"{len(holders)} ({', '.join(holders) or 'none'})"
        )
    holder = holders[0]
    if kind != "cut" and holder not in {m.name for m in profile.masters}:
        raise CheckFailed(
            f"--master {VIP_HOLDER}: the VIP is on {holder}, a load-balancer node with no "
            f"apiserver to {kind}; --kind cut takes the node itself away (lab)"
        )
    return holder


def run_drill(
    target: Profile | RenderPlan,
    master: str,
    kind: str,
    timing: DrillTiming | None = None,
    options: ApplyOptions | None = None,
    secrets: Secrets | None = None,
    fault: Fault | None = None,
    sessions: NodeSessions | None = None,
) -> DrillReport:
    """The drill; the caller has checked the confirmation for a real cluster. ``fault``: the
    lab's (the nodes share this machine's clock, a cut is possible); None: a real cluster.
    ``target``: the plan the command built (a profile is validated and rendered here);
    ``sessions``: the command's connections (verify's), else its own, closed at the end."""
    if kind not in KINDS:
        raise KubehaError(f"--kind: expected kill or cut, got {kind!r}")
    lab = fault is not None
    if not lab and kind == "cut":
        raise KubehaError(
            "--kind cut takes a host off the network: only the lab can do that; use --kind kill"
        )
    plan = target if isinstance(target, RenderPlan) else build_plan(target)
    profile = plan.profile
    timing = timing or (DrillTiming() if lab else REAL)
    if profile.health_check.auth == "client-cert" and not timing.auth:
        timing = dataclasses.replace(timing, auth=profile.health_check.curl_auth)
    options = options or ApplyOptions()
    own = sessions is None
    if sessions is None:
        sessions = NodeSessions.over_ssh(profile, options, secrets or Secrets())
    # A cut master cannot run its own loop (its SSH is cut too); a killed one still can.
    # ``options.only`` narrows the clients (an ipvs profile whose masters have no IPVS, say).
    clients = [
        n.node
        for n in plan.nodes
        if not (kind == "cut" and n.node == master) and (not options.only or n.node in options.only)
    ]
    opened: dict[str, RemoteNode] = {}
    notes: list[str] = []
    try:
        for name in [*clients, *([master] if not lab else [])]:
            if name not in opened:
                try:
                    opened[name] = sessions.node(name)
                except Exception as exc:
                    notes.append(f"{name}: not reachable: {exc}")

        def runner_for(name: str) -> Runner:
            def run(script: str, timeout: float) -> str:
                node = opened.get(name)
                if node is None:
                    raise CheckFailed("not reachable over SSH")
                return node.sh(script, timeout=timeout).stdout

            return run

        if fault is None:
            if master not in opened:
                raise CheckFailed(f"cannot reach master {master} over SSH to stop its apiserver")
            fault = SshApiserverFault(opened[master])
        results, loop_notes = run_loops(
            {name: runner_for(name) for name in clients},
            lambda name: plan.for_node(name).verify_url,
            fault,
            timing,
            wall_clock=lab,
        )
    finally:
        if own:
            sessions.close()
    return DrillReport(
        profile.name, profile.strategy, master, kind, lab, tuple(results), (*notes, *loop_notes)
    )
