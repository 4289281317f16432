"""Deploy wall time by node count: a fresh ``kubeha apply`` of local-nginx to 1, 10, 30 and 60
lab nodes (workers added to the lab for the larger counts), as a ratio to one node, and where
the time went: each phase's mean time per node, from the run's own events."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from bench.failover import lab_profile
from wizard import lab as lab_api
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions
from wizard.lab import Lab
from wizard.profile import Node
from wizard.render import build_plan

# (masters, workers, lb_nodes) of the lab that has at least that many nodes
SHAPES = {1: (3, 2, 0), 5: (3, 2, 0), 10: (3, 7, 0), 20: (3, 17, 0), 30: (3, 27, 0), 60: (3, 57, 0)}
STANDARD = (3, 2, 0)


@dataclass(frozen=True)
class DeployRow:
    nodes: int
    seconds: float
    ok: bool
    # phase -> mean seconds per node (connect, facts, install, upload, activate, verify, ...)
    phases: tuple[tuple[str, float], ...] = ()


def _quiet(_event) -> None:
    pass


class PhaseTimes:
    """Sums each node phase's durations from the run's events (a finished phase carries its
    duration), for the mean per node."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.nodes: set[str] = set()

    def __call__(self, event) -> None:
        if event.node is None or event.duration is None:
            return
        self.nodes.add(event.node)
        self.sums[event.phase] = self.sums.get(event.phase, 0.0) + event.duration

    def means(self) -> tuple[tuple[str, float], ...]:
        count = max(1, len(self.nodes))
        return tuple((phase, round(total / count, 2)) for phase, total in self.sums.items())


def profile_for(lab: Lab, count: int):
    base = lab_profile(lab, "local-nginx")
    masters = base.masters[: min(count, len(base.masters))]
    others = [n for n in lab.nodes if n.role != "master"][: count - len(masters)]
    workers = tuple(
        Node(n.name, n.address, dataclasses.replace(base.workers[0].ssh, port=n.ssh_port))
        for n in others
    )
    return dataclasses.replace(base, masters=masters, workers=workers, lb_nodes=())


def measure(lab: Lab, counts: tuple[int, ...], log=print) -> tuple[list[DeployRow], Lab]:
    """Returns the rows and the lab as it is afterwards (the standard shape again)."""
    rows = []
    try:
        for count in counts:
            shape = SHAPES[count]
            if lab.shape != shape:
                log(f"deploy: bringing the lab to {shape} for {count} nodes")
                lab = lab_api.up(*shape, replace=True, log=lambda _: None)
            profile = profile_for(lab, count)
            run_uninstall(build_plan(lab_profile(lab, "local-nginx")), ApplyOptions(), _quiet)
            phases = PhaseTimes()
            began = time.monotonic()
            summary = run_apply(build_plan(profile), ApplyOptions(), phases)
            seconds = time.monotonic() - began
            log(f"deploy: {count} node(s) in {seconds:.1f} s ({'ok' if summary.ok else 'FAILED'})")
            for result in summary.nodes:
                if not result.ok:
                    log(f"deploy:   {result.node}: {result.state.value}: {result.reason}")
            rows.append(DeployRow(count, round(seconds, 2), summary.ok, phases.means()))
            run_uninstall(build_plan(profile), ApplyOptions(), _quiet)
    finally:
        if lab.shape != STANDARD:
            log("deploy: putting the lab back to 3 masters and 2 workers")
            lab = lab_api.up(*STANDARD, replace=True, log=lambda _: None)
    return rows, lab
