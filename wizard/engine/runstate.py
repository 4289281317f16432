"""Run state: per-node progress of each run, in the user's state folder, so that ``--resume``
redoes only the nodes that failed or did not finish, and the wizard can offer an interrupted
install. Holds node names and states only: never a secret.

Everything here is private to the operator whatever the umask: the state folder, ``runs/``,
``runs/PROFILE/`` and each run folder are 0700 (kubeha's own existing ones are tightened when
reused; a ``$KUBEHA_STATE_DIR`` it did not make is never chmodded, see
:func:`wizard.paths.ensure_state_dir`), every file 0600. The last ``KUBEHA_KEEP_RUNS`` run folders of a profile are kept (default 20, dry runs
included); older ones are deleted, but never the run ``--resume`` would read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.engine.model import OK_STATES, NodeState
from wizard.errors import UsageError
from wizard.paths import ensure_state_dir, make_private_dirs, state_dir
from wizard.textsafe import printable

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_RUN_ID = re.compile(r"\d{8}-\d{6}-\d{5}")
KEEP_RUNS = 20  # run folders kept per profile unless $KUBEHA_KEEP_RUNS says otherwise


def safe_name(profile_name: str) -> str:
    return _SAFE.sub("_", profile_name)


def runs_dir(profile_name: str) -> Path:
    return state_dir() / "runs" / safe_name(profile_name)


def private_dir(path: Path) -> Path:
    """``path`` as a 0700 folder, and every folder between it and the state folder: the state
    folder as :func:`~wizard.paths.ensure_state_dir` makes or accepts it, the folders below it
    (kubeha's own: ``runs/``, ``locks/``...) made 0700 or tightened to 0700. One that is a
    symlink, not a folder, or another user's is a UsageError naming it."""
    root = ensure_state_dir()
    if not path.is_relative_to(root):
        return make_private_dirs(path)
    below = [p for p in (path, *path.parents) if p != root and p.is_relative_to(root)]
    for folder in reversed(below):
        try:
            os.mkdir(folder, 0o700)
            continue
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(
                f"{printable(folder)}: cannot make the folder ({exc.strerror}): expected a "
                "folder kubeha can create in its state folder"
            ) from None
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            kind = (
                "a symbolic link"
                if stat.S_ISLNK(info.st_mode)
                else "another user's folder"
                if stat.S_ISDIR(info.st_mode)
                else "not a folder"
            )
            raise UsageError(
                f"{printable(folder)}: is {kind}: expected kubeha's own private folder there "
                "(move it away and run again)"
            )
        os.chmod(folder, 0o700)
    return path


def keep_runs() -> int:
    """How many run folders to keep per profile: ``$KUBEHA_KEEP_RUNS`` or 20."""
    text = os.environ.get("KUBEHA_KEEP_RUNS", "").strip()
    if not text:
        return KEEP_RUNS
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"KUBEHA_KEEP_RUNS: {text!r}: expected a whole number of at least 1")
    return int(text)


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
        self.folder = private_dir(runs_dir(profile_name) / run_id)
        self.path = self.folder / "state.json"
        self.log_path = self.folder / "events.jsonl"
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {
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


def prune_runs(profile_name: str, keep: int, current: str = "") -> list[Path]:
    """Delete all but the newest ``keep`` run folders of the profile (``current``, the run
    being made, counts as one), never the run ``--resume`` reads (the newest that is not a dry
    run); tighten what is kept to 0700/0600. Returns the folders deleted."""
    folder = runs_dir(profile_name)
    if not folder.is_dir():
        return []
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and _RUN_ID.fullmatch(p.name))
    resumable = last_run(profile_name)
    protected = {current, resumable.run_id if resumable else ""}
    deleted = []
    for run in runs[: max(0, len(runs) - keep)]:
        if run.name not in protected:
            shutil.rmtree(run, ignore_errors=True)
            deleted.append(run)
    for run in runs:
        if run not in deleted and not run.is_symlink():
            _tighten(run)
    return deleted


def _tighten(run: Path) -> None:
    """A run folder written by an older kubeha: 0700, its files 0600."""
    try:
        os.chmod(run, 0o700)
        for entry in run.iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, 0o600)
    except OSError:
        pass
