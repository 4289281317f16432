"""What Preview shows of kubeadm's objects with ``[clients] repoint``: a leaf per object
(the kube-proxy ConfigMap, cluster-info, kubeadm-config) under their own branch; selected,
the object's diff from the last dry run (read through a master's kubectl), or before one,
what the apply would do to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wizard.retrofit import api_objects

BRANCH = "objects: kubeadm's, through the API"
EFFECTS = {
    api_objects.KUBE_PROXY: "then the kube-proxy DaemonSet is restarted (rolling) and every pod "
    "waited on until Ready",
    api_objects.CLUSTER_INFO: "then the bootstrap signer's JWS signatures (jws-kubeconfig-<id>) "
    "are checked against each bootstrap token until valid",
    api_objects.KUBEADM_CONFIG: "only the controlPlaneEndpoint line; every other byte stays",
}


@dataclass(frozen=True)
class ObjectLeaf:
    """A tree leaf: one of kubeadm's objects."""

    ref: api_objects.ObjectRef

    @property
    def title(self) -> str:
        return f"{self.ref.title} {self.ref.field}"


def leaves() -> tuple[ObjectLeaf, ...]:
    return tuple(ObjectLeaf(ref) for ref in api_objects.OBJECTS)


def found(leaf: ObjectLeaf, objects: Sequence[tuple[str, str]]) -> str | None:
    """The dry run's diff (or why unchanged) of the leaf's object; None when not read."""
    return next((text for title, text in objects if title == leaf.title), None)


def leaf_label(leaf: ObjectLeaf, objects: Sequence[tuple[str, str]], dry_run: bool) -> str:
    text = found(leaf, objects)
    if not dry_run:
        return leaf.ref.title
    if text is None:
        return f"{leaf.ref.title}  (not in the cluster)"
    return f"{leaf.ref.title}  ({'unchanged' if text.startswith('unchanged') else 'changes'})"


def view_text(leaf: ObjectLeaf, objects: Sequence[tuple[str, str]], dry_run: bool) -> str:
    """The viewer's text: the object's diff from the dry run, or what would happen to it."""
    head = [
        leaf.title,
        f"Its server (or endpoint) moves to the load balancer once every node verified; "
        f"{EFFECTS[leaf.ref]}.",
        "Recorded on the master first, changed only if nobody changed it since it was read,",
        "given back on a failure and by uninstall.",
        "",
    ]
    if not dry_run:
        lines = ["Press d for a dry run: it reads the object through a master's kubectl", ""]
        return "\n".join([*head, *lines])
    text = found(leaf, objects)
    if text is None:
        return "\n".join([*head, "The dry run found no such object in the cluster.", ""])
    return "\n".join([*head, text])
