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

import time
from collections.abc import Callable, Sequence

from wizard.agent.endpoints import BadEndpoints, members_of_endpoints
from wizard.engine.api_objects import ApiError, Kubectl
from wizard.engine.remote import RemoteNode
from wizard.engine.run_phases.agent_access import KUBECONFIGS
from wizard.errors import CheckFailed
from wizard.retrofit.api_objects import ObjectRef
from wizard.textsafe import printable

# Only read: the path (the field kubeha would change) is empty.
ENDPOINTS = ObjectRef("Endpoints", "default", "kubernetes", ())


def members(data: object) -> set[str]:
    """``ADDRESS:PORT`` of every ready apiserver the Endpoints object names (its ``https`` port,
    or its only port), read as every node's agent reads it; another shape: :class:`BadEndpoints`
    naming the field."""
    return {str(member) for member in members_of_endpoints(data)}


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
    where = f"kubectl get endpoints default/kubernetes on {kubectl.node_name}"
    try:
        data = kubectl.get(ENDPOINTS)
        return members(data) if data is not None else set()
    except ApiError as error:
        raise CheckFailed(f"{where}: {printable(str(error))}") from None
    except BadEndpoints as error:
        raise CheckFailed(f"{where}: {printable(str(error))}") from None


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
