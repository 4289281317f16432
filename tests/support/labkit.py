"""What the engine's lab tests share: lab profiles as Profile objects, a recording sink, and a
snapshot of what kubeha may touch on each node (to prove uninstall puts it all back)."""

from __future__ import annotations

import dataclasses
import threading

from tests.support.examples import changed
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.events import Event
from wizard.engine.model import ApplyOptions, RunSummary
from wizard.lab import Lab
from wizard.lab.profiles import build_profile
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan
from wizard.strategies import registry

WATCHED = (
    "/etc/kube-nginx/kube-nginx.conf",
    "/etc/systemd/system/kube-nginx.service",
    "/etc/haproxy/haproxy.cfg",
    "/etc/keepalived/keepalived.conf",
    "/etc/keepalived/check_apiserver.sh",
    "/etc/kube-haproxy/haproxy.cfg",
    "/etc/systemd/system/kube-haproxy.service",
)
UNITS = ("kube-nginx.service", "haproxy.service", "keepalived.service", "kube-haproxy.service")


def lab_profile(lab: Lab, strategy: str, **changes) -> Profile:
    profile = profile_from_dict(build_profile(lab.state, strategy)).profile
    assert profile is not None
    return dataclasses.replace(profile, **changes)


def with_section(profile: Profile, section: str, **changes) -> Profile:
    return changed(profile, section, **changes)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def text(self) -> str:
        return "\n".join(
            f"{e.node} {e.phase} {e.status} {e.message} {' | '.join(e.lines)}" for e in self.events
        )


def apply(profile: Profile, **options) -> tuple[RunSummary, Recorder]:
    recorder = Recorder()
    summary = run_apply(build_plan(profile), ApplyOptions(**options), recorder)
    return summary, recorder


def uninstall(profile: Profile) -> RunSummary:
    return run_uninstall(build_plan(profile), ApplyOptions(), Recorder())


# The strategies the nspawn nodes cannot run, and where each is tested instead.
QEMU_ONLY = {
    "ipvs": "IPVS needs a kernel with it: the QEMU node's tests (tests/lab/failover/test_ipvs_qemu.py)",
}
# Every other strategy of the registry runs in the nspawn lab, in the registry's order: a new
# strategy is deployed, drilled and uninstalled by the lab tests through its registry line.
STRATEGIES = tuple(key for key in registry.names() if key not in QEMU_ONLY)


def clean_base(lab: Lab, strategy: str, before: dict[str, dict[str, str]], folders: bool = False):
    """A module fixture's body: the lab without any kubeha strategy (its snapshot kept in
    ``before["nodes"]``, with the folder list when ``folders``), then ``strategy``'s profile;
    uninstalled again at the end."""
    for each in STRATEGIES:
        uninstall(lab_profile(lab, each))
    before["nodes"] = snapshot(lab, folders=folders)
    yield lab_profile(lab, strategy)
    uninstall(lab_profile(lab, strategy))


def states(summary: RunSummary) -> dict[str, str]:
    return {n.node: n.state.value for n in summary.nodes}


def snapshot(lab: Lab, folders: bool = False) -> dict[str, str]:
    """Hashes of the watched files, unit states and any kubeha leftovers, per node; with
    ``folders``, also the folders where kubeha makes its own (uninstall removes the ones it
    made)."""
    script = (
        "for f in " + " ".join(WATCHED) + "; do "
        'if [ -e $f ]; then echo "$f $(sha256sum < $f | cut -c1-16)"; else echo "$f absent"; fi; done; '
        "for u in "
        + " ".join(UNITS)
        + '; do echo "$u $(systemctl is-enabled $u 2>/dev/null) $(systemctl is-active $u 2>/dev/null)"; done; '
        "find /etc /var/lib/kubeha -name '*.kubeha-*' 2>/dev/null | sort; "
        "ls /var/lib/kubeha/units 2>/dev/null"
    )
    if folders:  # kubeha's config, unit, agent and state folders are among them
        script += "; find /etc /usr/local /var/lib/kubeha -maxdepth 2 -type d 2>/dev/null | sort"
    return {n.name: lab.exec_in_node(n.name, ["sh", "-c", script]).stdout for n in lab.nodes}


def active_since(lab: Lab, node: str, unit: str) -> str:
    return lab.exec_in_node(
        node, ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic,MainPID", unit]
    ).stdout


def masters_seen(results) -> set[str]:
    return {m for r in results.values() for m in r.masters if m != "-"}
