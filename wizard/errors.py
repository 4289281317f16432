"""Errors that the CLI turns into a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations


class KubehaError(Exception):
    """An error meant for the operator: its text says what is wrong and what is expected."""

    exit_code = 2


class UsageError(KubehaError):
    """Bad input on the command line or in a file the operator named."""

    exit_code = 2
