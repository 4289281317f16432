"""The session-wide ``lab`` fixture: 3 masters and 2 workers, up once per test session.

tests/conftest.py imports it; no other conftest may (each import is a fixture of its own).
A lab already up with that shape is reused (and left up afterwards); otherwise the fixture
brings one up, replacing a lab of another shape, and takes it down at the end of the session. Tests get a
:class:`wizard.lab.Lab`: ``lab.masters``, ``lab.exec_in_node(name, argv)``, ``lab.cut(name)``...
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator

import pytest

from wizard.lab import Lab, current, down, up
from wizard.lab.system import require_root

LAB_SHAPE = (3, 2, 0)  # masters, workers, LB nodes


SESSION_LOCK = "/run/kubeha-lab-tests.lock"


LOCK_WAIT_S = 1800


def _take_session_lock():
    """The session lock, or a clear failure after LOCK_WAIT_S: never an endless wait."""
    lock = open(SESSION_LOCK, "w")  # noqa: SIM115 - held for the whole session
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                pytest.fail(f"{SESSION_LOCK} is still held after {LOCK_WAIT_S} s", pytrace=False)
            time.sleep(1)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    require_root()  # the lab tests run as root (CI does); elsewhere this fails loudly
    # One test session at a time owns the lab: a second pytest waits here instead of
    # reshaping the lab under the first one's feet.
    lock = _take_session_lock()
    request_cleanup = lock.close
    if os.environ.get("CI"):
        # CI starts from a fresh lab: a lab left up by an earlier session may carry its state.
        down(log=lambda line: print(f"[lab] {line}"))
    existing = current()
    reused = existing is not None and existing.shape == LAB_SHAPE
    the_lab = up(*LAB_SHAPE, replace=True, log=lambda line: print(f"[lab] {line}"))
    try:
        yield the_lab
    finally:
        if not reused:
            down(log=lambda line: print(f"[lab] {line}"))
        request_cleanup()
