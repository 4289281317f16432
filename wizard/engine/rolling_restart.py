"""A rolling restart of the masters' apiservers (``kubeha masters restart``), the way an upgrade
goes: one master at a time, and the next only once every node's balancer has the last one back.

For each master in turn:

1. **Every node sees every master up first** (read from the nodes' agents, :mod:`wizard.status`):
   a master already out somewhere, or a node whose agent does not answer, stops the restart
   before it touches anything, naming them: restarting a second master while one is out could
   leave a node with none.
2. **Its apiserver is restarted the way it runs**: a systemd unit (``systemctl restart``: the
   apiserver's own graceful shutdown), or kubeadm's static pod (its manifest moved out of the
   manifests folder, kubelet stops the pod, the process gone, the manifest moved back, byte for
   byte: kubelet starts it again). Nothing else on the master changes.
3. **Every node's balancer has it back**: up and not draining on every node's agent, within
   ``timeout`` seconds. Otherwise the restart stops there (the next master is not touched) and
   names the nodes that do not have it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wizard.engine.remote import RemoteNode
from wizard.errors import CheckFailed
from wizard.status.fleet import NodeStatus
from wizard.textsafe import printable

STATIC_POD = "/etc/kubernetes/manifests/kube-apiserver.yaml"
PARKED = "/etc/kubernetes/kube-apiserver.yaml.kubeha-restart"
UNIT = "kube-apiserver.service"
GONE_TIMEOUT_S = 120  # kubelet's file check (20 s by default) and the apiserver's shutdown


@dataclass(frozen=True)
class MasterRestarted:
    """One master's step: how it was restarted, and how long until every node had it back."""

    master: str
    how: str  # "unit" or "static-pod"
    restart_s: float
    back_s: float


def restart_script() -> str:
    """The master's restart, in one shell script; it prints how (``unit`` or ``static-pod``)
    and exits 3 when it finds neither. A static pod's manifest is put back even when the
    process does not go within the bound (kubelet then restarts nothing: said, exit 4)."""
    return (
        f"if systemctl cat {UNIT} >/dev/null 2>&1; then systemctl restart {UNIT} && echo unit; "
        f"elif [ -f {STATIC_POD} ]; then "
        f"if [ -e {PARKED} ]; then echo 'parked manifest {PARKED} already there'; exit 5; fi; "
        f"mv {STATIC_POD} {PARKED} || exit 1; "
        f"i=0; while pgrep -x kube-apiserver >/dev/null && [ $i -lt {GONE_TIMEOUT_S * 2} ]; do "
        "sleep 0.5; i=$((i+1)); done; "
        "if pgrep -x kube-apiserver >/dev/null; then gone=no; else gone=yes; fi; "
        f"mv {PARKED} {STATIC_POD} || exit 1; "
        'if [ "$gone" = yes ]; then echo static-pod; '
        "else echo 'kubelet did not stop the apiserver'; exit 4; fi; "
        "else echo none; exit 3; fi"
    )


def restart_apiserver(node: RemoteNode) -> str:
    """Restart the master's apiserver as it runs; how it was done."""
    result = node.sh(restart_script(), timeout=GONE_TIMEOUT_S + 90)
    said = printable(result.stdout.strip() or result.stderr.strip())
    if not result.ok:
        if said == "none":
            raise CheckFailed("found no kube-apiserver unit or static pod on the master")
        raise CheckFailed(f"restarting its kube-apiserver failed: {said}")
    return said


def not_up(statuses: Sequence[NodeStatus], masters: Sequence[str]) -> list[str]:
    """What stops a restart: each node whose agent did not answer, whose balancer is down, or
    that has one of ``masters`` (``ADDRESS:PORT``) not up or draining; empty: every node has
    every master up."""
    found: list[str] = []
    for status in statuses:
        if status.error:
            found.append(f"{status.node}: {printable(status.error)}")
            continue
        if not status.balancer_up:
            found.append(f"{status.node}: its balancer is not up")
            continue
        views = {m.master: m for m in status.masters}
        out = [m for m in masters if m not in views or not views[m].up or views[m].draining]
        if out:
            found.append(f"{status.node}: {', '.join(out)} not up")
    return found


def rolling_restart(
    masters: Sequence[tuple[str, str]],
    restart: Callable[[str], str],
    read_fleet: Callable[[], list[NodeStatus]],
    timeout_s: float,
    log: Callable[[str], None],
    interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[MasterRestarted]:
    """Restart each of ``masters`` ((name, ``ADDRESS:PORT``), in order) as the module says."""
    every = [label for _, label in masters]
    done: list[MasterRestarted] = []
    for name, label in masters:
        before = not_up(read_fleet(), every)
        if before:
            raise CheckFailed(
                f"not restarting {name}: not every node has every master up: "
                + "; ".join(before)
                + (f" (restarted so far: {', '.join(d.master for d in done)})" if done else "")
            )
        log(f"{name}: restarting its kube-apiserver")
        began = clock()
        how = restart(name)
        restarted = clock()
        log(f"{name}: restarted ({how}) in {restarted - began:.1f} s; waiting for every node")
        while True:
            missing = not_up(read_fleet(), [label])
            if not missing:
                break
            if clock() - restarted > timeout_s:
                raise CheckFailed(
                    f"{name} is not back on every node {timeout_s:g} s after its restart: "
                    + "; ".join(missing)
                    + "; the next master was not touched"
                )
            sleep(interval_s)
        back = clock() - restarted
        log(f"{name}: back on every node {back:.1f} s after its restart")
        done.append(MasterRestarted(name, how, round(restarted - began, 1), round(back, 1)))
    return done
