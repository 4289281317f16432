"""Errors that the CLI turns into a clear message and a non-zero exit, never a traceback.

Every command exits with one scheme (the README's table):

- ``EXIT_OK`` (0): done, and what was checked is fine.
- ``EXIT_FAILED`` (1): the thing checked failed: an invalid profile, a failed node, a failed
  verify or drill, a build that failed, a lock held by another run.
- ``EXIT_USAGE`` (2): kubeha could not start on what it was given: bad arguments, a profile that
  cannot be read or is not TOML, no terminal for a prompt, a request it refuses before any
  connection (example addresses, ``--out`` over a folder that is not kubeha's).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class KubehaError(Exception):
    """An error meant for the operator: its text says what is wrong and what is expected."""

    exit_code = EXIT_USAGE


class UsageError(KubehaError):
    """Bad input on the command line or in a file the operator named."""

    exit_code = EXIT_USAGE


class CheckFailed(KubehaError):
    """What the command checked failed: an invalid profile, a node, a verify."""

    exit_code = EXIT_FAILED


class PrepareFailed(KubehaError):
    """A strategy's prepare step (its build) failed: no node was touched. ``lines``
    holds the tail of what failed (a compiler's output)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines
