"""Run state: per-node progress of each run, in the user's state folder, so that ``--resume``
redoes only the nodes that failed or did not finish, and the wizard can offer an interrupted
install. Holds node names and states only: never a secret."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.engine.model import OK_STATES, NodeState
from wizard.paths import state_dir

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def runs_dir(profile_name: str) -> Path:
    return state_dir() / "runs" / _SAFE.sub("_", profile_name)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() % 100000:05d}"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    profile: str
    started_at: float
    finished: bool
    ok: bool
    nodes: dict[str, str]
    log_path: Path
    dry_run: bool = False

    @property
    def nodes_ok(self) -> int:
        return len(self.done_nodes())

    @property
    def nodes_failed(self) -> int:
        return len(self.nodes) - self.nodes_ok

    def done_nodes(self) -> set[str]:
        ok = {s.value for s in OK_STATES if s is not NodeState.PLANNED}
        return {n for n, s in self.nodes.items() if s in ok}


class RunState:
    """The state file of one run, rewritten atomically after every node that finishes."""

    def __init__(
        self, profile_name: str, run_id: str, node_names: list[str], dry_run: bool
    ) -> None:
        self.folder = runs_dir(profile_name) / run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "state.json"
        self.log_path = self.folder / "events.jsonl"
        self._lock = threading.Lock()
        self._data = {
            "run_id": run_id,
            "profile": profile_name,
            "started_at": time.time(),
            "finished": False,
            "ok": False,
            "dry_run": dry_run,
            "nodes": dict.fromkeys(node_names, "pending"),
        }
        self._write()

    def set_node(self, node: str, state: str) -> None:
        with self._lock:
            self._data["nodes"][node] = state
            self._write()

    def finish(self, ok: bool) -> None:
        with self._lock:
            self._data["finished"] = True
            self._data["ok"] = ok
            self._write()

    def _write(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".state.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._data, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def _read(path: Path) -> RunRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(
            run_id=data["run_id"],
            profile=data["profile"],
            started_at=float(data["started_at"]),
            finished=bool(data["finished"]),
            ok=bool(data["ok"]),
            nodes={str(k): str(v) for k, v in data["nodes"].items()},
            log_path=path.parent / "events.jsonl",
            dry_run=bool(data.get("dry_run", False)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def last_run(profile_name: str, include_dry_runs: bool = False) -> RunRecord | None:
    """The newest run of this profile (dry runs left out unless asked for)."""
    folder = runs_dir(profile_name)
    if not folder.is_dir():
        return None
    for run in sorted(folder.iterdir(), reverse=True):
        record = _read(run / "state.json")
        if record is not None and (include_dry_runs or not record.dry_run):
            return record
    return None
