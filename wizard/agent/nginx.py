"""The agent's hands on nginx (local-nginx): the upstream's servers live in a file of their own
that kubeha's config includes; the agent rewrites it, checks the whole config with ``nginx -t``
and reloads nginx. A check that fails puts the previous file back (the balancer keeps running
the list it has) and is reported.

nginx cannot change an upstream at runtime (that is nginx Plus): a reload starts new workers
with the new list and lets the old ones finish their connections for up to the config's
``worker_shutdown_timeout``. A draining master is written ``down``: no new connection goes to
it; the ones open stay on the old worker until they end or that timeout closes them.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wizard.agent.loop import BalancerError
from wizard.agent.roster import Member, Roster, State

HEADER = "# Written by kubeha-agent: the masters of the list, generation {generation}.\n"


def upstream_lines(roster: Roster, params: str) -> str:
    lines = [HEADER.format(generation=roster.generation)]
    for member, state in roster.members:
        extra = " down" if state is State.DRAINING else ""
        lines.append(f"server {member} {params}{extra};\n".replace("  ", " "))
    return "".join(lines)


@dataclass(frozen=True)
class NginxFiles:
    """nginx's binary and config, the include the agent owns, the servers' parameters."""

    upstream_file: str
    config: str
    binary: str = "/usr/sbin/nginx"
    params: str = "max_fails=2 fail_timeout=10s"
    timeout_s: float = 30.0

    def _nginx(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", self.config, *args],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )

    def apply(self, roster: Roster) -> None:
        path = Path(self.upstream_file)
        text = upstream_lines(roster, self.params)
        try:
            previous = path.read_text(encoding="utf-8") if path.exists() else None
        except OSError as error:
            raise BalancerError(f"{path}: {error}") from None
        if previous == text:
            return
        self._write(path, text)
        checked = self._nginx("-t", "-q")
        if checked.returncode != 0:
            if previous is not None:
                self._write(path, previous)
            raise BalancerError(f"nginx -t refused the new list: {checked.stderr.strip()[:300]}")
        reloaded = self._nginx("-s", "reload")
        if reloaded.returncode != 0:
            raise BalancerError(f"nginx -s reload: {reloaded.stderr.strip()[:300]}")

    @staticmethod
    def _write(path: Path, text: str) -> None:
        temp = path.with_name(f".{path.name}.kubeha-agent")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except OSError as error:
            raise BalancerError(f"{path}: {error}") from None

    def up(self) -> bool:
        pid_file = self._pid_file()
        try:
            pid = int(Path(pid_file).read_text().strip()) if pid_file else 0
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return pid > 0

    def _pid_file(self) -> str:
        try:
            for line in Path(self.config).read_text(encoding="utf-8").splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) == 2 and words[0] == "pid":
                    return words[1].rstrip(";")
        except OSError:
            return ""
        return ""

    def connections(self) -> dict[Member, int]:
        return {}  # nginx keeps no count: the rebalance step reads them from the kernel
