"""kubelet's manifests folder, when kubeha must make it: kubelet reads the folder its config
names (``staticPodPath``) but does not create it, and kubeadm's ``join`` leaves a worker without
one (seen on the kubeadm lab). The upload creates it with a hidden mark inside (kubelet skips
dot files); a rollback and the uninstall remove it again once only the mark is left, so the node
is given back as it was. A folder that was there is never removed."""

from __future__ import annotations

from collections.abc import Iterable

from wizard.engine.remote import RemoteNode, q

MARK = ".kubeha-created"


def folders(manifests: Iterable[str]) -> list[str]:
    return sorted({path.rsplit("/", 1)[0] for path in manifests})


def ensure(node: RemoteNode, manifests: Iterable[str]) -> None:
    """Each manifest's folder, made (its parent must exist) and marked when it is not there."""
    for folder in folders(manifests):
        f = q(folder)
        result = node.sh(f"[ -d {f} ] || {{ mkdir -m 755 {f} && : > {q(folder + '/' + MARK)}; }}")
        if not result.ok:
            raise RuntimeError(f"cannot create {folder}: {result.stderr.strip()}")


def drop(node: RemoteNode, manifests: Iterable[str]) -> None:
    """Each folder kubeha made, removed once nothing but its mark is in it."""
    for folder in folders(manifests):
        f, mark = q(folder), q(folder + "/" + MARK)
        node.sh(
            f'if [ -e {mark} ] && [ -z "$(ls -A {f} | grep -vx {q(MARK)})" ]; then '
            f"rm -f {mark} && rmdir {f}; fi"
        )
