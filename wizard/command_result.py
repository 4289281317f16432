"""What running a command gave: its argv, exit code and output. The engine's transports and the
kube-nginx build's local runner both give this one type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def output_lines(self, limit: int = 20) -> tuple[str, ...]:
        lines = [line for line in (self.stdout + self.stderr).splitlines() if line.strip()]
        return tuple(lines[-limit:])
