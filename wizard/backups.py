"""The suffixes of the files kubeha keeps beside a file it replaces on a node
(:mod:`wizard.engine.remote` writes them; the validator refuses them as a kubeconfig). Here, not
in the engine, so that the validator and the strategies need nothing from the engine."""

from __future__ import annotations

NEW = ".kubeha-new"  # the staged new version, checked before it is renamed into place
PREV = ".kubeha-prev"  # the version this run replaced (its rollback)
ORIG = ".kubeha-orig"  # the version before kubeha first replaced the file (uninstall)
ABSENT = ".kubeha-absent"  # kubeha created the file: uninstall removes it
SUFFIXES = (NEW, PREV, ORIG, ABSENT)
