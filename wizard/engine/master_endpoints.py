"""A master change with discovery on (``kubeha masters add|remove|replace`` when ``[agent]
discovery = true``): every node's agent follows the cluster's ``default/kubernetes`` Endpoints,
so no node is re-applied and no worker is connected to. What the command does instead is read
those Endpoints with kubectl on one master over SSH (as the objects phase does:
:mod:`wizard.engine.run_phases.agent_access`), to wait until a new master's apiserver is in them
before the profile (every node's seed and fallback at its next apply) names it.

The master used is one that stays (the one leaving only when no other is left), never the new
one: it may not answer SSH yet, and it is not in the profile the command connects with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from wizard.engine.api_objects import Kubectl
from wizard.engine.remote import RemoteNode
from wizard.engine.run_phases.agent_access import KUBECONFIGS
from wizard.errors import CheckFailed
from wizard.netaddr import host_port
from wizard.textsafe import printable

ENDPOINTS = ("get", "endpoints", "kubernetes", "-n", "default", "-o", "json")


def members(data: object) -> set[str]:
    """``ADDRESS:PORT`` of every ready apiserver the Endpoints object names (its ``https``
    port, or its only port); an object of another shape names none."""
    found: set[str] = set()
    if not isinstance(data, dict):
        return found
    subsets = data.get("subsets")
    for subset in subsets if isinstance(subsets, list) else ():
        if not isinstance(subset, dict):
            continue
        ports = [p for p in subset.get("ports") or () if isinstance(p, dict)]
        chosen = [p for p in ports if p.get("name") == "https"] or ports[:1]
        addresses = [a for a in subset.get("addresses") or () if isinstance(a, dict)]
        for port in chosen:
            number = port.get("port")
            if not isinstance(number, int):
                continue
            for address in addresses:
                ip = address.get("ip")
                if isinstance(ip, str) and ip:
                    found.add(host_port(ip, number))
    return found


def kubectl_on(open_node: Callable[[str], RemoteNode], names: Sequence[str]) -> Kubectl:
    """kubectl on the first of ``names`` (masters, in order) that connects, has kubectl and a
    kubeconfig, and reads the Endpoints; none: a :class:`CheckFailed` naming what each
    answered."""
    problems: list[str] = []
    for name in names:
        try:
            node = open_node(name)
        except Exception as exc:  # an SSH error: the next master may answer
            problems.append(f"master {name}: cannot connect: {printable(str(exc))}")
            continue
        for kubeconfig in KUBECONFIGS:
            kubectl = Kubectl(node, name, kubeconfig)
            if kubectl.usable() is None:
                try:  # its kubeconfig may name a master that is gone: the next one may answer
                    read_members(kubectl)
                except CheckFailed as error:
                    problems.append(str(error))
                    break
                return kubectl
        else:
            problems.append(f"master {name}: no kubectl with {' or '.join(KUBECONFIGS)}")
    raise CheckFailed(
        "cannot read the cluster's default/kubernetes Endpoints: " + "; ".join(problems)
    )


def read_members(kubectl: Kubectl) -> set[str]:
    """The apiservers the ``default/kubernetes`` Endpoints name now (``ADDRESS:PORT``)."""
    result = kubectl.node.run(kubectl._argv(*ENDPOINTS), timeout=40)
    if not result.ok:
        raise CheckFailed(
            f"kubectl get endpoints default/kubernetes on {kubectl.node_name} failed: "
            + printable(result.stderr.strip()[:300])
        )
    try:
        return members(json.loads(result.stdout))
    except ValueError:
        raise CheckFailed(
            f"kubectl on {kubectl.node_name} answered something that is not JSON"
        ) from None


def wait_until_named(
    read: Callable[[], set[str]],
    wanted: str,
    timeout_s: float,
    log: Callable[[str], None],
    interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Seconds until ``wanted`` (``ADDRESS:PORT``) is in what ``read`` returns; a
    :class:`CheckFailed` naming what the Endpoints had when ``timeout_s`` ran out."""
    began = clock()
    said = False
    while True:
        now = read()
        if wanted in now:
            return clock() - began
        if clock() - began > timeout_s:
            raise CheckFailed(
                f"{wanted} is not in the cluster's default/kubernetes Endpoints "
                f"{timeout_s:g} s on (they name {', '.join(sorted(now)) or 'nothing'}): "
                "is its kube-apiserver running with this --advertise-address and "
                "--secure-port? The profile was not changed"
            )
        if not said:
            log(f"  waiting for {wanted} in the Endpoints (now: {', '.join(sorted(now))})")
            said = True
        sleep(interval_s)
