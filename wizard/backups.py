"""The suffixes of the files kubeha keeps beside a file it replaces on a node
(:mod:`wizard.engine.remote` writes them; the validator refuses them as a kubeconfig). Here, not
in the engine, so that the validator and the strategies need nothing from the engine."""

from __future__ import annotations

NEW = ".kubeha-new"  # the staged new version, checked before it is renamed into place
PREV = ".kubeha-prev"  # the version this run replaced (its rollback)
ORIG = ".kubeha-orig"  # the version before kubeha first replaced the file (uninstall)
ABSENT = ".kubeha-absent"  # kubeha created the file: uninstall removes it
SUFFIXES = (NEW, PREV, ORIG, ABSENT)


def hidden(path: str) -> bool:
    """A static pod manifest of kubeha's (``<folder>/kubeha-<name>.yaml``): kubelet runs every
    file of its folder whose name does not start with a dot, so the files kept beside it are
    hidden (``.kubeha-haproxy.yaml.kubeha-prev``), never a second pod."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith("kubeha-") and name.endswith(".yaml")


def beside(path: str, suffix: str) -> str:
    """The file kubeha keeps beside ``path`` with ``suffix`` (one of :data:`SUFFIXES`)."""
    if hidden(path):
        folder, _, name = path.rpartition("/")
        return f"{folder}/.{name}{suffix}"
    return path + suffix
