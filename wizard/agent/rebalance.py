"""Spreading long-lived connections back after a master returns.

A failover moves every connection to the masters that stayed; watches then last for minutes, so
a master that comes back carries nothing while the survivors carry everything. Each round the
agent may close a few of its balancer's connections to the most loaded master, only ones that
are idle both ways (nothing queued, nothing sent or received for ``idle_ms``, and an answer
received after the last request, so no answer is pending): the client sees its kept-alive
connection or its quiet watch end, reconnects at once, and the balancer's least-connections
choice puts it on the master that has fewest. It stops when the most loaded master has at most
``ratio`` times the least loaded one's connections (or one more).

"Or one more" alone would leave the master that returned one short on every node (8
connections over 3 masters: 2/3/3), which a fleet adds up (the lab: 10/15/15 for minutes after
a return, 1.5 times). So, within the ratio, each node also moves towards its own share
(:class:`Evener`): an equal part each, and the remainder to the masters in an order rotated by
the node's address, so that the nodes' remainders fall on different masters; one connection a
round, and it holds off for a while when a close did not bring the node nearer its share (the
client reconnected to the same master).

The connections are read from the kernel (``ss -tnHepi``: queues and the last send and receive
of each socket) and closed by it (``ss -K``), as the session cutter does. Which of them are the
balancer's is read from the socket itself: the cgroup of the unit that made it (``ss -e``), else
the owning program (``ss -p``), else the user the balancer's workers run as. The agent's unit
keeps only CAP_NET_ADMIN and CAP_KILL, so ``ss -p`` cannot see the processes of a balancer whose
workers run as another user (haproxy's ``user haproxy``): found on the lab, where every
connection was then taken for someone else's and nothing was ever spread back.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wizard.agent.roster import Member

_SOCKET = re.compile(r"^(\d+)\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+users:\(\((.*?)\)\))?")
_LAST = re.compile(r"\blast(snd|rcv):(\d+)")
_UID = re.compile(r"\suid:(\d+)\b")
_CGROUP = re.compile(r"\scgroup:(\S+)")


@dataclass(frozen=True)
class Connection:
    """One established TCP connection of this node to a master."""

    local: str  # ADDRESS:PORT, as ss prints it
    master: Member
    recv_q: int
    send_q: int
    last_send_ms: int  # since the last byte sent
    last_recv_ms: int
    process: str = ""  # the owning program's name, when ss could tell
    uid: int | None = None  # the socket's owner (ss -e)
    cgroup: str = ""  # the cgroup of the process that made it (ss -e), e.g. a unit's

    def idle(self, idle_ms: int) -> bool:
        """Nothing queued, quiet both ways for ``idle_ms``, and no answer pending."""
        return (
            self.recv_q == 0
            and self.send_q == 0
            and self.last_send_ms >= idle_ms
            and self.last_recv_ms >= idle_ms
            # strictly: an answer came after the last request (the same millisecond cannot
            # tell a fast answer from none, and closing a connection whose answer is pending
            # fails that request)
            and self.last_recv_ms < self.last_send_ms
        )


def _split(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    return host.strip("[]").split("%")[0], int(port)


def read_connections(text: str, masters: Iterable[Member]) -> list[Connection]:
    """``ss -tnHpi state established``'s output, kept to the connections to ``masters``."""
    wanted = set(masters)
    found: list[Connection] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _SOCKET.match(line)
        if match is None:
            continue
        peer = _split(match.group(4))
        if peer is None or Member(*peer) not in wanted:
            continue
        info = lines[i + 1] if i + 1 < len(lines) and lines[i + 1][:1].isspace() else ""
        # ss leaves lastsnd/lastrcv out when it is 0: sent or received in this very clock tick
        last = {kind: int(ms) for kind, ms in _LAST.findall(info)}
        process = re.search(r'"([^"]+)"', match.group(5) or "")
        uid = _UID.search(line)
        cgroup = _CGROUP.search(line)
        found.append(
            Connection(
                match.group(3),
                Member(*peer),
                int(match.group(1)),
                int(match.group(2)),
                last.get("snd", 0),
                last.get("rcv", 0),
                process.group(1) if process else "",
                int(uid.group(1)) if uid else None,
                cgroup.group(1) if cgroup else "",
            )
        )
    return found


def balancer_uids(process: str, proc: str = "/proc") -> set[int]:
    """The users the processes named ``process`` run as, root left out when another is there
    (a master process runs as root, its workers, which open the connections, as the
    configured user): from /proc/PID/comm and /proc/PID/status, which anyone may read."""
    uids: set[int] = set()
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return uids
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/comm") as comm:
                if comm.read().strip() != process:
                    continue
            with open(f"{proc}/{pid}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        uids.add(int(line.split()[1]))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return uids - {0} if uids - {0} else uids


def the_balancers(
    conns: Iterable[Connection], process: str, unit: str, uids: Callable[[], set[int]]
) -> list[Connection]:
    """Of ``conns``, the balancer's: by the unit's cgroup where ss gives one, else by program
    name where ss could see the process, else by owner (``uids``, asked only when needed)."""
    if not process and not unit:
        return list(conns)
    kept: list[Connection] = []
    owners: set[int] | None = None
    for conn in conns:
        if unit and conn.cgroup.strip("/"):  # "/": cgroup v1 hosts name the root for all
            mine = conn.cgroup.rstrip("/").rsplit("/", 1)[-1] == unit
        elif conn.process:
            mine = not process or conn.process == process
        elif conn.uid is not None and process:
            owners = uids() if owners is None else owners
            mine = conn.uid in owners
        else:
            mine = False
        if mine:
            kept.append(conn)
    return kept


def plan_closes(
    connections: Sequence[Connection],
    active: Sequence[Member],
    ratio: float = 1.25,
    per_round: int = 2,
    idle_ms: int = 1000,
) -> list[Connection]:
    """The connections to close this round (at most ``per_round``, all to the most loaded
    active master), or none when the load is within ``ratio`` (or one connection) already."""
    if len(active) < 2 or per_round <= 0:
        return []
    counts = {member: 0 for member in active}
    for conn in connections:
        if conn.master in counts:
            counts[conn.master] += 1
    busiest = max(counts, key=lambda m: (counts[m], str(m)))
    lightest = min(counts.values())
    high = counts[busiest]
    if high <= max(ratio * lightest, lightest + 1):
        return []
    # Close no more than brings the busiest down to the average, a few at a time.
    spare = high - -(-sum(counts.values()) // len(counts))
    chosen = [c for c in connections if c.master == busiest and c.idle(idle_ms)]
    chosen.sort(key=lambda c: -min(c.last_send_ms, c.last_recv_ms))
    return chosen[: max(0, min(per_round, spare))]


def counts_of(connections: Iterable[Connection], active: Sequence[Member]) -> dict[Member, int]:
    counts = {member: 0 for member in active}
    for conn in connections:
        if conn.master in counts:
            counts[conn.master] += 1
    return counts


def shares(active: Sequence[Member], total: int, offset: int) -> dict[Member, int]:
    """Each master's share of this node's ``total`` connections: an equal part, and the
    remainder one each to the masters in address order rotated by ``offset`` (the node's own)."""
    ordered = sorted(active, key=str)
    k = offset % len(ordered)
    ordered = ordered[k:] + ordered[:k]
    base, extra = divmod(total, len(ordered))
    return {m: base + (1 if i < extra else 0) for i, m in enumerate(ordered)}


def off_share(counts: dict[Member, int], share: dict[Member, int]) -> int:
    return sum(abs(counts[m] - share[m]) for m in counts)


def plan_evening(
    connections: Sequence[Connection], active: Sequence[Member], offset: int, idle_ms: int
) -> list[Connection]:
    """One idle connection to the master furthest above its share, when another is below
    its own (none otherwise)."""
    if len(active) < 2:
        return []
    counts = counts_of(connections, active)
    share = shares(active, sum(counts.values()), offset)
    over = max(active, key=lambda m: (counts[m] - share[m], str(m)))
    if counts[over] <= share[over] or not any(counts[m] < share[m] for m in active):
        return []
    chosen = [c for c in connections if c.master == over and c.idle(idle_ms)]
    chosen.sort(key=lambda c: -min(c.last_send_ms, c.last_recv_ms))
    return chosen[:1]


HOLD_ROUNDS = 30  # rounds without evening after a close that brought the node no nearer


@dataclass
class Evener:
    """The node's state between rounds: whether its last evening close brought it nearer its
    share; when not (the client came back to the same master), it holds off HOLD_ROUNDS."""

    offset: int
    idle_ms: int
    hold: int = 0
    last_off: int | None = None  # off-share before the last evening close

    def plan(self, connections: Sequence[Connection], active: Sequence[Member]) -> list[Connection]:
        counts = counts_of(connections, active)
        off = off_share(counts, shares(active, sum(counts.values()), self.offset)) if active else 0
        if self.last_off is not None and off >= self.last_off:
            self.hold = HOLD_ROUNDS
        self.last_off = None
        if self.hold > 0:
            self.hold -= 1
            return []
        chosen = plan_evening(connections, active, self.offset, self.idle_ms)
        if chosen:
            self.last_off = off
        return chosen


def node_offset(masters: Sequence[Member]) -> int:
    """A number of this node's own, from the address it reaches the first master from (a
    datagram socket's connect sends nothing): nodes numbered in a row get offsets in a row."""
    if not masters:
        return 0
    first = sorted(masters, key=str)[0]
    family = socket.AF_INET6 if ":" in first.address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((first.address, first.port))
            return int(ipaddress.ip_address(probe.getsockname()[0].split("%")[0]))
    except (OSError, ValueError):
        return 0


def read_node(masters: Iterable[Member], process: str = "", unit: str = "") -> list[Connection]:
    """This node's established connections to ``masters``, the balancer's only when its
    program or unit is named (:func:`the_balancers`)."""
    done = subprocess.run(
        ["ss", "-tnHepi", "state", "established"], capture_output=True, text=True, timeout=10
    )
    found = read_connections(done.stdout, masters)
    return the_balancers(found, process, unit, lambda: balancer_uids(process))


def close(conn: Connection) -> bool:
    """Close one connection through the kernel (``ss -K``); True when ss found it."""
    local = _split(conn.local)
    if local is None:
        return False
    peer = f"[{conn.master.address}]" if ":" in conn.master.address else conn.master.address
    mine = f"[{local[0]}]" if ":" in local[0] else local[0]
    done = subprocess.run(
        ["ss", "-K", "-tnH", "src", f"{mine}:{local[1]}", "dst", f"{peer}:{conn.master.port}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.returncode == 0 and bool(done.stdout.strip())
