"""What the SSH lab tests share: the ``Access`` handle (bastion, ops, its sudo password), profiles
that reach the nodes only through the bastion, runs with secrets, and a watch on the nodes'
process lists."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.labkit import Recorder
from wizard.engine.apply import run_apply
from wizard.engine.model import ApplyOptions, RunSummary, Secrets
from wizard.lab import Lab, operator
from wizard.lab import bastion as lab_bastion
from wizard.profile import Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan

USER = operator.USER
# ops's sudo in the module's lab: a password on the masters, none on the workers
MIXED_SUDO = {"master": "password", "worker": "nopasswd", "lb": "nopasswd"}


@dataclass
class Access:
    lab: Lab
    bastion: lab_bastion.Bastion
    password: str  # ops's sudo password
    known_hosts: Path  # the bastion and every node by its lab address
    folder: Path

    def profile(self, strategy: str = "local-nginx", **ssh_changes) -> Profile:
        data = lab_bastion.profile(
            self.lab.state,
            strategy,
            user=USER,
            known_hosts=str(self.known_hosts),
            bastion=self.bastion,
        )
        profile = profile_from_dict(data).profile
        assert profile is not None
        if ssh_changes:
            profile = dataclasses.replace(
                profile, ssh=dataclasses.replace(profile.ssh, **ssh_changes)
            )
        return profile

    def set_sudo(self, modes: dict[str, str]) -> None:
        for name, mode in modes.items():
            operator.set_sudo(name, mode)

    def mixed_sudo(self) -> None:
        self.set_sudo({n.name: MIXED_SUDO[n.role] for n in self.lab.nodes})


OK = {"verified", "unchanged"}


def clean_slate(lab: Lab) -> None:
    """Nothing of kubeha's on the nodes (what an earlier module may have left), as root."""
    from tests.support.labkit import lab_profile, uninstall

    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))


def apply(
    profile: Profile, secrets: Secrets | None = None, **options
) -> tuple[RunSummary, Recorder]:
    recorder = Recorder()
    summary = run_apply(build_plan(profile), ApplyOptions(**options), recorder, secrets=secrets)
    return summary, recorder


def states(summary: RunSummary) -> dict[str, str]:
    return {n.node: n.state.value for n in summary.nodes}


def reasons(summary: RunSummary) -> dict[str, str]:
    return {n.node: n.reason for n in summary.nodes}


def connect_seconds(recorder: Recorder) -> dict[str, float]:
    """How long each node's connect phase took until it finished (ok or failed)."""
    return {
        e.node: e.duration
        for e in recorder.events
        if e.phase == "connect" and e.duration is not None and e.node
    }


class ProcessWatch:
    """Polls ``ps`` on lab nodes while a run goes on; ``seen`` holds every distinct command line."""

    def __init__(self, names: list[str], interval: float = 0.1) -> None:
        self.names = names
        self.interval = interval
        self.seen: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name in self.names:
                try:
                    proc = operator.exec_in(name, ["ps", "-eo", "args="], check=False)
                except Exception:
                    continue
                self.seen.update(line.strip() for line in proc.stdout.splitlines())
            self.polls += 1
            time.sleep(self.interval)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def accepted_logins(name: str, user: str = USER) -> int:
    """How many SSH logins of ``user`` the node's sshd has accepted so far."""
    proc = operator.exec_in(
        name, ["journalctl", "--no-pager", "-o", "cat", "_COMM=sshd"], check=False
    )
    return sum(1 for line in proc.stdout.splitlines() if f"Accepted publickey for {user} " in line)


def fingerprint_of(public_line: str) -> str:
    """``SHA256:...`` of a public key line, as ssh-keygen computes it (independent of kubeha)."""
    proc = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=public_line + "\n", capture_output=True, text=True
    )
    return proc.stdout.split()[1]
