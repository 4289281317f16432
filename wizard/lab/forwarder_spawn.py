"""Starting the lab's SSH forwarder (wizard.lab.forwarder) as a detached process of its own,
and waiting until its listeners are bound: the one way the lab, the bastion and the QEMU
guests launch theirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

import wizard
from wizard.lab.constants import BRIDGE_NETNS, LAB_DIR
from wizard.lab.errors import LabError
from wizard.lab.state import LabState
from wizard.lab.system import start_time

READY_TIMEOUT = 10.0


def spawn_forwarder(
    listen: str, mappings: Iterable[str], ready: Path, log_file: Path, what: str
) -> tuple[int, int | None]:
    """Start ``python -m wizard.lab.forwarder`` for ``mappings`` (``PORT=ADDR:22``) on
    ``listen``; return (pid, start time) once it is ready, or raise LabError naming ``what``
    with the tail of its log."""
    ready.unlink(missing_ok=True)
    package_root = str(Path(wizard.__file__).resolve().parent.parent)
    argv = [
        sys.executable,
        "-m",
        "wizard.lab.forwarder",
        f"--netns={BRIDGE_NETNS}",
        f"--listen={listen}",
        f"--ready-file={ready}",
        *mappings,
    ]
    with open(log_file, "ab") as logf:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env={**os.environ, "PYTHONPATH": package_root},
        )
    started = start_time(proc.pid)
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_file.read_text(errors="replace").splitlines()[-10:]
            raise LabError(f"{what} did not start:\n" + "\n".join(tail))
        time.sleep(0.05)
    ready.unlink(missing_ok=True)
    return proc.pid, started


def stop_stale_forwarders(state: LabState | None, folder: Path = LAB_DIR) -> list[int]:
    """Stop an added node's SSH forwarder that no lab record names (a lab taken down by a
    kubeha that did not know node forwarders leaves it holding its port): one whose ready file
    is ``folder/forwarder-NODE.ready``; their PIDs."""
    recorded = {n.forwarder_pid for n in state.nodes} if state else set()
    marker = f"--ready-file={folder}/forwarder-"
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in recorded:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "wizard.lab.forwarder" in words and any(w.startswith(marker) for w in words):
            with suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGTERM)
                stopped.append(int(entry.name))
    return stopped
