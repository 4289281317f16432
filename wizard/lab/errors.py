"""Errors the lab raises for the operator; the CLI prints them without a traceback."""

from __future__ import annotations

from wizard.errors import KubehaError


class LabError(KubehaError):
    """The lab could not do what was asked; the message says why and what to do."""

    exit_code = 1


class NotRootError(LabError):
    """The lab changes namespaces, mounts and packages: it needs root."""

    exit_code = 1
