"""Small helpers for running host programs and handling processes by recorded PID: start,
stop, and wait until a process is gone from /proc entirely (a zombie not yet reaped by its
parent still counts as there)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wizard.lab.errors import LabError, NotRootError


def require_root(euid: int | None = None) -> None:
    """Raise :class:`NotRootError` unless running as root (``euid`` overrides for tests)."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise NotRootError(
            "the lab needs root: it creates network namespaces, overlay mounts and "
            "systemd-nspawn containers. Run it again with sudo (sudo kubeha lab ...)."
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a host program, capture its output, raise :class:`LabError` on failure."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = _with_sbin(env.get("PATH", ""))
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=env,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {detail}")
    return proc


def _with_sbin(path: str) -> str:
    """``path`` plus the sbin folders (ip, debootstrap, nsenter live there; sudo may drop them)."""
    parts = [p for p in path.split(":") if p]
    for extra in ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if extra not in parts:
            parts.append(extra)
    return ":".join(parts)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int | None, started: int | None) -> bool:
    """True when ``pid`` is the very process recorded (same start time), and not a zombie."""
    if not pid:
        return False
    if start_time(pid) != started:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    result: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                result.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return result


def stop_process(pid: int | None, started: int | None, sig: int, timeout: float) -> None:
    """Send ``sig`` to the recorded process, wait up to ``timeout`` s, then SIGKILL it."""
    if not alive(pid, started):
        return
    assert pid is not None
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, started):
            _reap(pid)
            return
        _reap(pid)
        time.sleep(0.1)
    if alive(pid, started):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while alive(pid, started) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (started in this process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class Proc:
    """One process the lab made, by PID and start time (a reused PID is never mistaken for it)."""

    pid: int
    started: int
    what: str

    def exists(self) -> bool:
        """Still in /proc (running, stopping or a zombie), as this very process."""
        return start_time(self.pid) == self.started

    def describe(self) -> str:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            state, parent = fields[0], fields[1]
        except OSError:
            return f"{self.what} (pid {self.pid}, gone)"
        zombie = ", a zombie its parent has not reaped" if state == "Z" else ""
        return f"{self.what} (pid {self.pid}, state {state}, parent {parent}{zombie})"


def process_tree(pid: int | None, started: int | None, what: str) -> list[Proc]:
    """The recorded process and every descendant it has now (empty when it is not running)."""
    if not pid or started is None or start_time(pid) != started:
        return []
    found = [Proc(pid, started, what)]
    queue = [pid]
    while queue and len(found) < 10_000:
        for child in children(queue.pop()):
            child_started = start_time(child)
            if child_started is not None:
                found.append(Proc(child, child_started, f"{what}: pid {child}"))
                queue.append(child)
    return found


def wait_gone(procs: Iterable[Proc], timeout: float) -> list[Proc]:
    """Poll /proc until none of ``procs`` (nor any descendant they gain meanwhile) exists, for
    at most ``timeout`` s, reaping those that are our own children; returns what is left."""
    pending = {(p.pid, p.started): p for p in procs}
    deadline = time.monotonic() + timeout
    while True:
        for key, proc in list(pending.items()):
            _reap(proc.pid)
            if not proc.exists():
                del pending[key]
                continue
            for child in process_tree(proc.pid, proc.started, proc.what)[1:]:
                pending.setdefault((child.pid, child.started), child)
        if not pending or time.monotonic() >= deadline:
            return list(pending.values())
        time.sleep(0.1)


def require_gone(procs: Iterable[Proc], timeout: float, what: str) -> None:
    """:func:`wait_gone`, then a :class:`LabError` naming every process still there."""
    left = wait_gone(procs, timeout)
    if left:
        names = "; ".join(p.describe() for p in left[:12])
        more = f" and {len(left) - 12} more" if len(left) > 12 else ""
        raise LabError(f"{what}: still running {timeout:.0f} s after it was stopped: {names}{more}")
