"""Who holds a run's locks, and the lock on this machine: one ``apply`` or ``uninstall`` per
profile at a time.

The profile lock is an ``flock`` on ``STATE/locks/PROFILE.lock`` (0600, in a 0700 folder),
taken without waiting: a second run fails at once naming the holder (run id, host, PID, start
time), exit 1. The kernel drops it when the holding process ends, however it ends. The holder's
record (:class:`LockHolder`) is also what kubeha writes into each node's lock
(:mod:`wizard.engine.node_lock`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from wizard.errors import KubehaError, UsageError
from wizard.paths import state_dir
from wizard.terminal import one_line
from wizard.textsafe import printable, shown

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_ACTIVE_RUNS: set[str] = set()  # the runs going on in this process (see profile_lock)


class LockHeld(KubehaError):
    """Another run holds the lock; the text names it."""

    exit_code = 1


def _machine_id() -> str:
    try:
        return Path("/etc/machine-id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class LockHolder:
    """The run that holds a lock: its id and profile, and where it runs (host, PID, since)."""

    run_id: str
    profile: str
    host: str
    pid: int
    started: float  # seconds since the epoch
    machine: str = ""  # /etc/machine-id of the host, to tell two hosts of one name apart

    @classmethod
    def here(cls, run_id: str, profile: str) -> LockHolder:
        """This process, running ``run_id`` now."""
        return cls(run_id, profile, socket.gethostname(), os.getpid(), time.time(), _machine_id())

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
            return cls(
                run_id=str(data["run_id"]),
                profile=str(data["profile"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                started=float(data["started"]),
                machine=str(data.get("machine", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        except (OverflowError, ValueError, OSError):  # a node's record: any number at all
            when = f"at {self.started!r} (not a time)"
        return (  # a node's lock record: its text escaped, it cannot forge the message
            f"run {one_line(self.run_id)} (profile {shown(self.profile)}) on host "
            f"{one_line(self.host)}, PID {self.pid}, started {when}"
        )

    def on_this_host(self) -> bool:
        if self.machine and _machine_id():
            return self.machine == _machine_id()
        return self.host == socket.gethostname()

    def is_stale(self) -> bool:
        """True when the holder ran on this host and is over: its process is gone (no such PID,
        or the PID now belongs to a process that started after the lock was taken), or it is
        this process and the run has ended. A holder on another host is never judged from here."""
        if not self.on_this_host():
            return False
        if self.pid == os.getpid():  # this process (the wizard runs one run after another)
            return self.run_id not in _ACTIVE_RUNS
        began = process_start(self.pid)
        if began is None:
            return not _exists_unseen(self.pid)
        return began > self.started + 1.0


def _exists_unseen(pid: int) -> bool:
    """A process /proc does not show us (another user's, under ``hidepid``) still exists."""
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    if fields[0] == "Z":
        return None
    return boot + int(fields[19]) / _CLOCK_TICKS


def lock_path(profile_name: str) -> Path:
    from wizard.engine.runstate import private_dir, safe_name

    return private_dir(state_dir() / "locks") / f"{safe_name(profile_name)}.lock"


def _read_holder(fd: int) -> LockHolder | None:
    """The holder's record; the holder writes it right after taking the lock, so an empty
    file is read again for a moment."""
    deadline = time.monotonic() + 1.0
    while True:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        holder = LockHolder.parse(text)
        if holder is not None or time.monotonic() > deadline:
            return holder
        time.sleep(0.05)


def _lock_file_problem(path: Path, kind: str) -> UsageError:
    return UsageError(
        f"lock file {printable(path)}: is {kind}: expected a regular file of yours that kubeha "
        "made (0600); nothing else is touched there: remove it, then run again"
    )


def _open_lock_file(path: Path) -> int:
    """The profile's lock file, opened or made 0600: never through a symlink, and never a
    folder, a FIFO, a device or another user's file (each a UsageError naming the path)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        try:
            info = os.lstat(path)
        except OSError:
            info = None
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise _lock_file_problem(path, "a symbolic link") from None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise _lock_file_problem(path, "a folder") from None
        raise UsageError(
            f"lock file {printable(path)}: cannot open it ({exc.strerror or type(exc).__name__}):"
            " expected a regular file kubeha can make in its state folder"
        ) from None
    info = os.fstat(fd)
    kind = (
        ""
        if stat.S_ISREG(info.st_mode)
        else "a FIFO"
        if stat.S_ISFIFO(info.st_mode)
        else "a socket"
        if stat.S_ISSOCK(info.st_mode)
        else "a device"
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
        else "not a regular file"
    )
    if not kind and info.st_uid != os.geteuid():
        kind = f"another user's file (uid {info.st_uid})"
    if kind:
        os.close(fd)
        raise _lock_file_problem(path, kind)
    os.set_blocking(fd, True)
    return fd


@contextmanager
def profile_lock(holder: LockHolder, enabled: bool = True) -> Iterator[None]:
    """Hold this machine's lock of ``holder.profile`` for the block, or raise :class:`LockHeld`.
    Either way (``enabled`` or not) the run counts as going on in this process meanwhile."""
    if not enabled:
        with _active(holder.run_id):
            yield
        return
    path = lock_path(holder.profile)
    fd = _open_lock_file(path)
    try:
        os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            who = other.describe() if other else "another kubeha process"
            raise LockHeld(
                f"profile {holder.profile!r} is locked by {who}: one apply or uninstall per "
                f"profile at a time; wait for it to finish (lock file {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_text().encode(), 0)
        os.fsync(fd)
        try:
            with _active(holder.run_id):
                yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _active(run_id: str) -> Iterator[None]:
    _ACTIVE_RUNS.add(run_id)
    try:
        yield
    finally:
        _ACTIVE_RUNS.discard(run_id)
