"""``kubeha status --json --follow`` run beside a bench (bench.master_replace), as an operator
would watch a master operation: its lines collected with the time each arrived, and each step's
changes per node (a master added, up, draining, removed) read back from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class StatusFollower:
    """The follower process and the ``status-change`` records it printed so far."""

    def __init__(
        self, profile: Path, interval_s: float, for_s: float, stderr: Path | None = None
    ) -> None:
        argv = [sys.executable, "-m", "wizard", "status", str(profile), "--json", "--follow",
                "--interval", str(interval_s), "--for", str(for_s)]  # fmt: skip
        self.changes: list[dict[str, Any]] = []
        self.first: dict[str, Any] | None = None
        # its stderr kept (a file beside the bench's output): a follower that stops talking
        # says why there
        self._stderr = open(stderr or os.devnull, "w")  # noqa: SIM115
        self._process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("kind") == "status-change":
                record["seen"] = time.time()
                self.changes.append(record)
            elif record.get("kind") == "status" and self.first is None:
                self.first = record

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        self._thread.join(timeout=30)
        self._stderr.close()

    @property
    def exit_code(self) -> int | None:
        return self._process.returncode


def step_changes(
    changes: list[dict[str, Any]], since: float, new: str, old: str, origin: float
) -> dict[str, dict[str, float]]:
    """Per node, seconds after ``origin`` (the new master's endpoint appearing) at which the
    follower's reads showed the new master added and up, and the old one draining and removed:
    the first such change of each kind after ``since``."""
    wanted = {(new, "added"), (new, "up"), (old, "draining"), (old, "removed")}
    found: dict[str, dict[str, float]] = {}
    for change in changes:
        key = (change.get("master", ""), change.get("what", ""))
        if change.get("at", 0) < since or key not in wanted:
            continue
        label = f"{'new' if key[0] == new else 'old'} {key[1]}"
        found.setdefault(change["node"], {}).setdefault(label, round(change["at"] - origin, 2))
    return found
