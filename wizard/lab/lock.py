"""The lab's locks: one lab operation at a time on this machine (two test processes, two
terminals), and one builder at a time of each of its caches (the rootfs, the QEMU images, the
Kubernetes build). ``lab``, ``bastion``, ``qemu`` and the builders all take them from here, so
this module sits below every one of them."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wizard.lab.constants import LAB_DIR, LOCK_FILE


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (made in an existing folder), held until the block
    ends: the lock goes when the file closes, so a killed process never leaves it taken."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def lab_lock() -> Iterator[None]:
    """The lab's own lock: held until the block ends."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with file_lock(LOCK_FILE):
        yield
