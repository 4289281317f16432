"""Reading the fleet again and again, for the live view and ``--follow``: each read asks every
node whose last ask has ended, waits at most the per-node timeout (and a second) for those that
answered last time, and gives every node's latest status. A node in error is asked again but
not waited on (a node that is gone costs each read nothing). A node whose ask still runs (an
SSH connection to a vanished node can hang far past any timeout) is not asked again: its last
status stands until its ask is older than the read deadline, then it is an error; the other
nodes are read as usual, so one node's silence never slows the view of the others."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from wizard.status.fleet import DEFAULT_CONCURRENCY, ROUND_GRACE_S, NodeStatus, Target, ask


class LiveFleet:
    """``read()`` every node's latest status; ``close()`` when done (asks still running are
    left to end on their own)."""

    def __init__(
        self,
        targets: Sequence[Target],
        fetch: Callable[[Target, float], str],
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets, self.fetch, self.timeout_s, self.clock = targets, fetch, timeout_s, clock
        self.deadline_s = 2 * timeout_s + ROUND_GRACE_S
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets) or 1)))
        self._asking: dict[str, tuple[Future[NodeStatus], float]] = {}
        self._last: dict[str, NodeStatus] = {}

    def read(self) -> list[NodeStatus]:
        fresh = []
        for target in self.targets:
            if target.node not in self._asking:
                future = self._pool.submit(ask, target, self.fetch, self.timeout_s)
                self._asking[target.node] = (future, self.clock())
                last = self._last.get(target.node)
                if last is None or not last.error:  # a node in error is not waited on
                    fresh.append(future)
        wait(fresh, timeout=self.timeout_s + 1)
        found = []
        for target in self.targets:
            future, since = self._asking[target.node]
            if future.done():
                self._last[target.node] = future.result()
                del self._asking[target.node]
            elif self.clock() - since > self.deadline_s:
                waited = self.clock() - since
                self._last[target.node] = NodeStatus(
                    target.node, error=f"{target.url}: no answer for {waited:.0f} s"
                )
            found.append(
                self._last.get(target.node)
                or NodeStatus(target.node, error=f"{target.url}: no answer yet")
            )
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
