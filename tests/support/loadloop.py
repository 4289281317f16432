"""Bounded request loops run inside lab nodes, to see what clients see while a master dies.

Every loop has a fixed count and a per-request time limit, runs only against lab addresses, and
ends by itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from wizard.lab import Lab

CA = "/etc/kubeha-lab/ca.crt"
STALL_S = 1.0


@dataclass(frozen=True)
class LoopResult:
    node: str
    codes: tuple[str, ...]
    seconds: tuple[float, ...]
    masters: tuple[str, ...]

    @property
    def failed(self) -> int:
        return sum(1 for code in self.codes if code != "200")

    @property
    def stalled(self) -> int:
        return sum(1 for s in self.seconds if s > STALL_S)

    def __str__(self) -> str:
        return f"{self.node}: {len(self.codes)} requests, {self.failed} failed, {self.stalled} stalled > {STALL_S}s, max {max(self.seconds, default=0):.2f}s"


def _script(url: str, count: int, interval: float, max_time: float) -> str:
    # Each line: HTTP code, total seconds, the master that answered (X-Lab-Master header).
    return (
        f"i=0; while [ $i -lt {count} ]; do i=$((i+1)); "
        f"curl -s -k -D - -o /dev/null -m {max_time} -w 'RESULT %{{http_code}} %{{time_total}}\\n' '{url}' "
        f"| tr -d '\\r' | awk '/^X-Lab-Master:/ {{m=$2}} /^RESULT/ {{print $2, $3, (m==\"\" ? \"-\" : m)}}'; "
        f"sleep {interval}; done"
    )


def run_loop(
    lab: Lab, node: str, url: str, count: int, interval: float, max_time: float = 5
) -> LoopResult:
    proc = lab.exec_in_node(
        node,
        ["sh", "-c", _script(url, count, interval, max_time)],
        timeout=count * (interval + max_time) + 30,
    )
    codes, seconds, masters = [], [], []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            codes.append(parts[0])
            seconds.append(float(parts[1]))
            masters.append(parts[2])
    return LoopResult(node, tuple(codes), tuple(seconds), tuple(masters))


def loops_on(
    lab: Lab,
    nodes: list[str],
    url: str,
    count: int,
    interval: float,
    during=None,
    after_s: float = 1.0,
) -> dict[str, LoopResult]:
    """Run loops on every node at once; ``during()`` is called ``after_s`` into the loops."""
    results: dict[str, LoopResult] = {}
    threads = [
        threading.Thread(
            target=lambda n=n: results.__setitem__(n, run_loop(lab, n, url, count, interval))
        )
        for n in nodes
    ]
    for thread in threads:
        thread.start()
    if during is not None:
        threading.Event().wait(after_s)
        during()
    for thread in threads:
        thread.join(timeout=count * 6 + 60)
    return results
