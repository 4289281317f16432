"""The lab's own lock: one lab operation at a time on this machine (two test processes, two
terminals). ``lab`` and ``bastion`` both take it, so it sits below both."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from wizard.lab.constants import LAB_DIR, LOCK_FILE


@contextmanager
def lab_lock() -> Iterator[None]:
    """Held until the block ends (the file's flock, released when the file closes)."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
