"""The hardened lab (``kubeha lab up --control-plane real --hardened``): the real apiservers
refuse anonymous requests (``--anonymous-auth=false``), every node has a kubelet-style client
certificate. What the apiserver allows is measured here, then each strategy on the nspawn
nodes applies with ``[health_check] auth = "client-cert"`` (the lab's profiles), verifies
against the lab's CA, loses nothing in a kill drill, and is removed; a profile left on
``auth = "anonymous"`` is refused by the auth preflight before any node changes.

The module turns the session's lab into a hardened real one of the same shape and gives the
stand-in back at the end. It needs the cached Kubernetes build (see test_real_control_plane)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator

import pytest

from tests.lab.failover.conftest import BACK_WHILE_AWAY_S, LOADED_DRILL
from tests.support.labkit import STRATEGIES, apply, lab_profile, uninstall
from wizard.commands.lab_drill import LabFault
from wizard.engine.drill import drill_rows
from wizard.engine.drill_run import run_drill
from wizard.engine.verify import format_table, run_verify
from wizard.lab import Lab, kube_build, up
from wizard.lab.control_plane import KUBELET_CLIENT_PEM

pytestmark = pytest.mark.lab

LAB_CA = "/etc/kubernetes/ssl/ca.pem"


@pytest.fixture(scope="module")
def hardened_lab(lab: Lab) -> Iterator[Lab]:
    if kube_build.cached() is None:
        message = "no cached Kubernetes build: `kubeha lab build-kube` (scripts/test does)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    shape = lab.shape

    def log(line: str) -> None:
        print(f"[hardened lab] {line}")

    started = time.monotonic()
    hardened = up(*shape, replace=True, control_plane="real", hardened=True, log=log)
    print(f"[hardened lab] up in {time.monotonic() - started:.1f} s")
    try:
        yield hardened
    finally:
        for strategy in STRATEGIES:
            uninstall(lab_profile(hardened, strategy))
        up(*shape, replace=True, log=log)  # the stand-in back, same shape
        lab.refresh()


def code(lab: Lab, node: str, url: str, *extra: str) -> str:
    argv = ["curl", "-s", "--cacert", LAB_CA, *extra, "-o", "/dev/null", "-w", "%{http_code}"]
    return lab.exec_in_node(node, [*argv, "-m", "5", url], timeout=20).stdout.strip() or "000"


def test_anonymous_readyz_is_refused_and_the_kubelet_certificate_reads_it(hardened_lab: Lab):
    """What the real apiserver allows with --anonymous-auth=false: 401 without credentials
    (/readyz, /livez, /version alike); with the node's certificate (system:node:NAME, group
    system:nodes: system:public-info-viewer is bound to system:authenticated) 200."""
    m1 = hardened_lab.masters[0]
    for client in ("w1", "m2"):
        for path in ("/readyz", "/livez", "/version"):
            assert code(hardened_lab, client, f"https://{m1.address}:6443{path}") == "401", path
        with_cert = code(
            hardened_lab, client, f"https://{m1.address}:6443/readyz", "--cert", KUBELET_CLIENT_PEM
        )
        assert with_cert == "200"


def test_an_anonymous_profile_is_refused_before_any_node_changes(hardened_lab: Lab):
    profile = lab_profile(hardened_lab, "local-haproxy")
    anonymous = dataclasses.replace(
        profile, health_check=dataclasses.replace(profile.health_check, auth="anonymous")
    )
    summary, recorder = apply(anonymous)
    assert not summary.ok
    text = recorder.text()
    assert "auth preflight" in text or 'auth = "anonymous" every master fails' in text, text
    assert '"client-cert"' in text
    assert not [e for e in recorder.events if e.phase == "upload"], text


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_applies_verifies_and_survives_a_kill(hardened_lab: Lab, strategy):
    for other in STRATEGIES:
        if other != strategy:
            uninstall(lab_profile(hardened_lab, other))
    profile = lab_profile(hardened_lab, strategy)
    assert profile.health_check.auth == "client-cert"
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    report = run_verify(profile, ca_file=LAB_CA)
    print("\n".join(format_table([(c.node, c.status, c.detail) for c in report.nodes])))
    assert report.ok, report
    assert {c.status for c in report.nodes} == {"200"}
    assert {c.ca_file for c in report.nodes} == {LAB_CA}
    assert not [c for c in report.nodes if c.all_failing]
    victim = "m2"
    drill = run_drill(profile, victim, "kill", LOADED_DRILL, fault=LabFault(victim, "kill"))
    shown = "\n".join(format_table(drill_rows(drill)))
    print(f"\n{strategy} hardened drill kill {victim}:\n{shown}")
    for node in drill.nodes:
        assert node.error == "" and node.requests >= 20, shown
        assert node.failed == 0, shown
        assert node.watch_back_s is not None and node.watch_back_s < BACK_WHILE_AWAY_S, shown
    assert drill.ok, shown
    uninstall(profile)
