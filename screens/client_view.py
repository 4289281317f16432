"""What Preview shows of ``[clients] repoint``: each kubeconfig the apply would repoint, as a
leaf of the plan tree labelled with its one-line diff, and, selected, that line on each node.

Before any node was read the current server is ``<current>`` (only a node knows it); once a dry
run has run, each node's facts (``NodeResult.kubeconfigs``) give the real line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.profile import KUBEADM_LOCAL_KUBECONFIGS, ClientKubeconfig
from wizard.render import RenderPlan
from wizard.retrofit.client_diff import (
    CURRENT,
    old_endpoints,
    per_node_lines,
    planned_line,
    summary_line,
)
from wizard.retrofit.kubeconfig import KubeconfigNow

BRANCH = "clients: each kubeconfig's server: line"


@dataclass(frozen=True)
class KubeconfigRef:
    """A tree leaf: one kubeconfig of ``[clients]``."""

    kubeconfig: ClientKubeconfig


def found_now(path: str, dry_run: Mapping[str, Any]) -> dict[str, KubeconfigNow | None]:
    """Node -> the dry run's facts of the kubeconfig at ``path`` (None: not read there)."""
    return {
        node: next((k for k in getattr(result, "kubeconfigs", ()) if k.path == path), None)
        for node, result in dry_run.items()
    }


def leaf_label(plan: RenderPlan, ref: KubeconfigRef, dry_run: Mapping[str, Any]) -> str:
    """``PATH  server: OLD → server: NEW`` (``<current>`` before a dry run)."""
    path = ref.kubeconfig.path
    found = found_now(path, dry_run)
    line = summary_line(plan.server_url, old_endpoints(plan.profile), found)
    return f"{path}  {line}"


def restart_lines(target: ClientKubeconfig) -> list[str]:
    """What the apply does so that the kubeconfig's reader takes the new server."""
    if target.unit:
        return [f"{target.unit} restarts when it runs, then is checked through the LB."]
    if target.pod:
        return [
            f"Read by the static pod {target.pod}: its manifest is moved out of",
            "/etc/kubernetes/manifests and back (every byte kept); kubelet stops",
            "the pod and starts it again, which reads the new server; then",
            "checked through the LB. A node without that manifest: crictl stops",
            "its container where the node has crictl, else it reads the new",
            "server at its next start.",
        ]
    return ["No unit: its client reads the new server at its next start."]


def view_text(plan: RenderPlan, ref: KubeconfigRef, dry_run: Mapping[str, Any]) -> str:
    """The viewer's text for a kubeconfig: what changes in it, node by node."""
    target = ref.kubeconfig
    unit = restart_lines(target)
    if target.path in KUBEADM_LOCAL_KUBECONFIGS and not plan.profile.clients.repoint_local:
        unit += [
            "On a master where it names the master's own apiserver it stays",
            "local, as kubeadm made it (Clients: Local ones too repoints it).",
        ]
    head = [
        target.path,
        "Only its server: line changes, once the node's load balancer",
        "verifies; every other byte stays.",
        *unit,
        "",
    ]
    if not dry_run:
        return "\n".join(
            [
                *head,
                f"  {planned_line(plan.server_url)}",
                "",
                f"{CURRENT}: the server the file names on a node now (only",
                "the node knows it). Press d for a dry run: each node's facts",
                "then give its own line here.",
                "",
            ]
        )
    found = found_now(target.path, dry_run)
    lines = per_node_lines(plan.server_url, old_endpoints(plan.profile), found)
    return "\n".join([*head, "From the dry run's facts, node by node:", *lines, ""])
