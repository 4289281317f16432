"""One cached build of the lab (the rootfs, the kubeadm node layer, the balancer images): a
folder in the cache, built once, locked (two ``lab up`` never build it at once), atomic (built
in a hidden work folder beside it, renamed into place once whole, removed on failure), and the
cache's older entries of the same build (other keys, half-built work folders) removed when
nothing mounts them. A build counts only when ``done`` says so (its stamp, its key files)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from wizard.lab.errors import LabError
from wizard.lab.lock import file_lock


def _mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def remove_unused(folder: Path, prefix: str, keep: Path) -> None:
    """Entries of ``folder`` named ``prefix...`` or ``.prefix...`` (finished builds of another
    key, half-built work folders) other than ``keep``, that no mount uses."""
    mounts = _mounts()
    for entry in folder.iterdir():
        ours = entry.name.startswith((prefix, f".{prefix}")) and entry.is_dir()
        if ours and entry != keep and str(entry) not in mounts:
            shutil.rmtree(entry, ignore_errors=True)


def cached_build(
    path: Path,
    *,
    prefix: str,
    lock: Path,
    done: Callable[[Path], bool],
    build: Callable[[Path], None],
    log: Callable[[str], None] = print,
    on_failure: Callable[[Path], object] | None = None,
) -> bool:
    """``path`` as ``build`` makes it (into a fresh work folder that it may create, ``done``
    true of it at the end), unless ``done`` already holds of ``path``. Every entry of
    ``path``'s folder named ``prefix...``/``.prefix...`` is this build's: the unused ones go.
    ``on_failure`` tidies a failed work folder before it is removed (e.g. unmounts).
    Returns whether it built."""
    if done(path):
        return False
    with file_lock(lock):  # another `lab up` may be building it now
        if done(path):
            return False
        if path.exists():
            if str(path) in _mounts():
                raise LabError(f"{path} is incomplete but mounted: take the lab down first")
            log(f"cached {path} is broken or stale: rebuilding")
            shutil.rmtree(path)
        remove_unused(path.parent, prefix, keep=path)
        work = path.parent / f".{path.name}.build-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            build(work)
            if not done(work):
                raise LabError(f"the build of {path.name} is not complete")
            os.rename(work, path)
        except BaseException:
            if on_failure is not None:
                on_failure(work)
            shutil.rmtree(work, ignore_errors=True)
            raise
    return True
