"""Where a build runs: this machine (``local``) or one node over the engine's transport. Both
run a shell script in a work folder, receive bytes, and hand a file back. A node is whatever the
engine's opener connects (duck typed: ``sh``, ``run`` and ``transport.put``/``close``)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path
from shlex import quote as q
from typing import Any, Protocol

from wizard.command_result import CommandResult


class Runner(Protocol):
    label: str
    workdir: str

    def sh(self, script: str, timeout: float = 120) -> CommandResult: ...

    def put(self, data: bytes, path: str) -> None: ...

    def fetch(self, path: str) -> bytes: ...

    def cleanup(self) -> None: ...


class LocalRunner:
    """Builds in a temporary folder on the operator's machine."""

    label = "local"

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="kubeha-build-")

    def sh(self, script: str, timeout: float = 120) -> CommandResult:
        argv = ("sh", "-c", script)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return CommandResult(argv, 124, "", f"timed out after {timeout:.0f}s")
        return CommandResult(argv, done.returncode, done.stdout, done.stderr)

    def put(self, data: bytes, path: str) -> None:
        Path(path).write_bytes(data)

    def fetch(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class NodeRunner:
    """Builds in /var/tmp on one node; the binary comes back base64-encoded over the same
    channel as every command (works the same with or without sudo)."""

    workdir = "/var/tmp/kubeha-build"

    def __init__(self, node: Any, label: str) -> None:
        self.node = node
        self.label = label

    def sh(self, script: str, timeout: float = 120) -> CommandResult:
        result: CommandResult = self.node.sh(script, timeout=timeout)
        return result

    def put(self, data: bytes, path: str) -> None:
        self.node.transport.put(data, path, 0o644)

    def fetch(self, path: str) -> bytes:
        result = self.node.run(["base64", "-w", "0", path], timeout=300)
        if not result.ok:
            raise RuntimeError(f"cannot fetch {path} from {self.label}: {result.stderr.strip()}")
        return base64.b64decode(result.stdout.strip())

    def cleanup(self) -> None:
        self.node.sh(f"rm -rf {q(self.workdir)}")
