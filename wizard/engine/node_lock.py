"""The lock a run holds on each node it changes (``/run/kubeha/apply.lock``), so two runs —
of one profile from two machines, or of two profiles that share nodes — never interleave on a
node and overwrite each other's backups.

A node whose lock another run holds fails at once, naming that run (id, profile, host, PID,
start time); the other nodes carry on. A lock left by a run of this host whose process is gone
is stale: it is replaced, and the run says so. A lock from another host is never judged from
here: the error says how to remove it once that run is known to be over.
"""

from __future__ import annotations

from wizard.engine.events import Event, Status
from wizard.engine.locks import LockHolder
from wizard.engine.phase import PhaseName
from wizard.engine.remote import NODE_LOCK, RemoteNode
from wizard.errors import KubehaError
from wizard.terminal import one_line


class NodeLocked(KubehaError):
    """Another run holds this node's lock."""

    exit_code = 1


def _held_message(record: str, path: str) -> str:
    other = LockHolder.parse(record)
    if other is None:
        shown = record.strip()[:200].encode("unicode_escape").decode("ascii")
        who = f"an unknown holder ({shown!r})"
        where = "that run"
    else:
        who = other.describe()
        where = f"PID {other.pid} on {one_line(other.host)}"
    return (
        f"locked by another kubeha run: {who}. Wait for it to finish; if {where} is no longer "
        f"running, remove the lock on the node with: rm {path}"
    )


def take(node: RemoteNode, holder: LockHolder, path: str = NODE_LOCK) -> str:
    """Take ``node``'s lock for ``holder``'s run; returns what was done, or raises
    :class:`NodeLocked` naming the holder."""
    record = holder.to_text()
    current = node.try_lock(record, path=path)
    if current is None:
        return f"node locked for run {holder.run_id}"
    other = LockHolder.parse(current)
    if other is not None and other.is_stale():
        again = node.try_lock(record, stale=current, path=path)
        if again is None:
            return (
                f"node locked for run {holder.run_id}, replacing the stale lock of run "
                f"{other.run_id} (PID {other.pid} on {other.host} is gone)"
            )
        current = again
    raise NodeLocked(_held_message(current, path))


def release(node: RemoteNode, holder: LockHolder, path: str = NODE_LOCK) -> None:
    """Release ``node``'s lock if ``holder``'s run holds it."""
    node.unlock(holder.to_text(), path=path)


def release_for(job, node: RemoteNode) -> None:
    """Release the lock a node job took (``job.lock``, ``job.locked``); a failure is reported
    as an event, never raised: the lock then names a run that is over, which the next run from
    this host finds stale and replaces."""
    if not job.locked or job.lock is None:
        return
    job.locked = False
    try:
        release(node, job.lock)
    except (KubehaError, RuntimeError, OSError) as exc:
        message = f"could not release the node's lock: {exc}"
        job.emit(Event(job.name, PhaseName.DISCONNECT, Status.INFO, message))
