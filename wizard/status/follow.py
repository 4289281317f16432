"""``kubeha status --json --follow``: the fleet read every interval, its first read printed whole
(``kind: "status"``), then one ``kind: "status-change"`` line per change as it happens (see
:mod:`wizard.status.changes`), until ``--for`` seconds have passed or the operator stops it."""

from __future__ import annotations

import time
from collections.abc import Callable

from wizard.jsonlines import json_line
from wizard.status.changes import changes
from wizard.status.fleet import NodeStatus, to_json


def follow(
    reader: Callable[[], list[NodeStatus]],
    interval_s: float,
    duration_s: float | None,
    write: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Reads until ``duration_s`` (None: until interrupted); returns 0 (Ctrl-C ends it too)."""
    started = clock()
    try:
        last = reader()
        write(to_json(last, wall()) + "\n")
        while duration_s is None or clock() - started + interval_s <= duration_s:
            sleep(interval_s)
            now = reader()
            at = wall()
            for change in changes(last, now):
                write(json_line("status-change", {"at": at, **change.__dict__}) + "\n")
            last = now
    except KeyboardInterrupt:
        pass
    return 0
