"""Issue 26: a systemd unit a profile names ([clients] kubeconfigs' ``unit``) is refused unless
systemd itself takes it as a service's name, and every unit kubeha names to ``systemctl`` on a
node comes after ``--``: a name that starts with '-' (valid to systemd) is never an option."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from tests.support.examples import example_profile
from tests.wizard.engine.test_locks import LocalShell
from wizard.engine.remote import RemoteNode
from wizard.engine.transport import CommandResult
from wizard.profile import ClientKubeconfig, Clients
from wizard.validation import validate

NAMES = [
    "kubelet.service",
    "-kubelet.service",  # valid to systemd (the root mount is -.mount)
    "kube-proxy@eth0.service",
    "a@b@c.service",
    "x\\x2dy.service",
    "@x.service",
    "a b.service",
    "a;b.service",
    "kubelet.service\n",
    "kubelet",
    "kubelet.socket",
    ".service",
    "k" * 247 + ".service",  # 255 characters
    "k" * 248 + ".service",  # 256
]


def unit_problems(unit: str):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        clients=Clients(repoint=True, kubeconfigs=(ClientKubeconfig("/etc/k.conf", unit),)),
    )
    return [p for p in validate(profile) if p.field == "clients.kubeconfigs[0].unit"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("unit", NAMES)
def test_a_unit_is_taken_exactly_when_systemd_takes_it(tmp_path, unit):
    """``systemd-analyze verify`` refuses a file whose name is not a valid unit name ("Failed
    to prepare filename"), without a running systemd."""
    if len(unit) > 250:  # longer than a file name may be: systemd's own limit is the claim
        systemd_takes = len(unit) <= 255
    else:
        path = tmp_path / unit
        path.write_text("[Service]\nExecStart=/bin/true\n")
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"./{unit}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        systemd_takes = "Failed to prepare filename" not in done.stderr
    problems = unit_problems(unit)
    assert (not problems) == (systemd_takes and unit.endswith(".service")), (problems, unit)
    if problems:
        assert problems[0].value == unit and "kubelet.service" in problems[0].expected


def test_a_template_is_refused_naming_an_instance():
    problems = unit_problems("kubelet@.service")
    assert problems and "template" in problems[0].expected
    assert "kubelet@name.service" in problems[0].expected


class Recorder:
    label = "rec"

    def __init__(self) -> None:
        self.argv: list[tuple[str, ...]] = []

    def run(self, argv, *, timeout=120, stdin=None):
        self.argv.append(tuple(argv))
        return CommandResult(tuple(argv), 0, "", "")

    def put(self, data, path, mode):
        raise NotImplementedError

    def close(self):
        pass


def test_every_unit_goes_after_a_double_dash():
    recorder = Recorder()
    node = RemoteNode(recorder)  # type: ignore[arg-type]
    node.unit_state("-kubelet.service")
    node.systemctl("restart", "-kubelet.service")
    node.systemctl("daemon-reload")
    assert recorder.argv == [
        ("systemctl", "is-enabled", "--", "-kubelet.service"),
        ("systemctl", "is-active", "--", "-kubelet.service"),
        ("systemctl", "restart", "--", "-kubelet.service"),
        ("systemctl", "daemon-reload"),
    ]


def test_an_option_passed_as_a_unit_is_refused_loudly():
    with pytest.raises(RuntimeError, match="not a unit name"):
        RemoteNode(Recorder()).systemctl("is-active", "--quiet", "kubelet.service")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl here")
def test_the_real_systemctl_reads_a_dash_name_as_a_unit():
    """Without ``--`` systemctl says "invalid option -- 'k'" and acts on no unit at all; with it
    the name reaches systemd (here there is none to answer: any other failure is fine)."""
    result = RemoteNode(LocalShell()).systemctl("is-active", "-kubelet.service", timeout=30)  # type: ignore[arg-type]
    assert "invalid option" not in result.stderr, result.stderr
