"""Make an existing cluster HA with the ipvs strategy, on the lab's real control plane: the QEMU
guest q1 (the only lab node with IPVS) gets kubectl, an admin kubeconfig and kube-proxy
(iptables mode) pointing at m1 as the seed leaves them; ``[clients] repoint = true`` moves them
to the IPVS virtual server; with m1's apiserver killed, or m1 cut off the network, q1's kubectl
answers through the checker's table and q1's kube-proxy programs a Service made after the
fault (its watch came back through IPVS); uninstall gives every kubeconfig and /etc/hosts back
byte for byte.

The checker's timing comes from a probe round measured on the guest (tests/lab/failover/
test_ipvs_qemu.py's Timing), so a slower host gets a slower checker and matching bounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import pytest

from tests.lab.environment.test_real_control_plane import kubectl, real_lab, wait_for  # noqa: F401
from tests.lab.failover.test_ipvs_qemu import Timing, probe_round_seconds
from tests.support.labkit import Recorder
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.lab import qemu
from wizard.lab.control_plane import CLIENT_KUBECONFIGS as KUBECONFIGS
from wizard.lab.control_plane import PROXY_UNIT
from wizard.profile import Clients, Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan
from wizard.strategies.ipvs import UNIT

pytestmark = pytest.mark.lab

ONLY = ApplyOptions(only=("q1",), verify_timeout=120)
M1 = "https://10.77.0.11:6443"
PROBE = "kubeha-probe-ipvs"
BEFORE: dict[str, str] = {}  # path -> text on q1, as the lab made it


def on_q1(guest, script: str, timeout: float = 60):
    return qemu.exec_in_guest(guest, ["sh", "-c", script], timeout=timeout)


def read_kubeconfigs(guest) -> dict[str, str]:
    found = {}
    for item in KUBECONFIGS:
        proc = qemu.exec_in_guest(guest, ["cat", item.path])
        if proc.returncode == 0:
            found[item.path] = proc.stdout
    return found


@pytest.fixture(scope="module")
def q1(real_lab):  # noqa: F811
    guests = qemu.ensure_guests(1, log=lambda line: print(f"[qemu] {line}"))
    guest = guests[0]
    try:
        assert guest.kube_drive, "a real lab's guest has the Kubernetes clients' disk"
        BEFORE.update(read_kubeconfigs(guest))
        BEFORE["/etc/hosts"] = on_q1(guest, "cat /etc/hosts").stdout
        yield guest
    finally:
        for m in real_lab.masters:
            with contextlib.suppress(Exception):
                real_lab.restore(m.name)
        qemu.remove_guests(log=lambda line: print(f"[qemu] {line}"))


@pytest.fixture(scope="module")
def ipvs(real_lab, q1) -> Profile:  # noqa: F811
    timing = Timing.from_round(probe_round_seconds(q1, [m.address for m in real_lab.masters]))
    print(f"\nIPVS timing from a measured probe round: {timing}")
    data = qemu.ipvs_profile(real_lab.state, [q1])
    data["health_check"] = {"interval": timing.interval, "timeout": timing.timeout}
    data["health_check"] |= {"fall": 2, "rise": 2}
    loaded = profile_from_dict(data)
    assert loaded.profile is not None, loaded
    profile = dataclasses.replace(
        loaded.profile, clients=Clients(repoint=True, kubeconfigs=KUBECONFIGS)
    )
    yield profile
    run_uninstall(build_plan(profile), ONLY, Recorder())


def served_through(guest, lb: str) -> bool | str:
    """q1's kubectl answers /readyz with its kubeconfig naming the virtual server."""
    server = on_q1(guest, "kubectl config view -o jsonpath='{.clusters[0].cluster.server}'")
    if server.stdout.strip() != lb:
        return f"q1's kubeconfig names {server.stdout.strip()!r}"
    proc = on_q1(guest, "kubectl --request-timeout=5s get --raw /readyz")
    return (proc.returncode == 0 and proc.stdout.strip() == "ok") or proc.stderr[-200:]


def on_m2(lab, *args: str):
    """kubectl on m2 straight to its own apiserver (the nspawn nodes' clients stay on m1)."""
    return kubectl(lab, "m2", "--server=https://127.0.0.1:6443", *args)


def proxy_healthy(guest) -> bool | str:
    """kube-proxy's healthz answers 200 (on an emulated CPU it starts and syncs slowly)."""
    health = on_q1(guest, "curl -fsS -m 5 http://127.0.0.1:10256/healthz")
    return health.returncode == 0 or (health.stderr or health.stdout)[-200:]


def proxy_started(guest) -> str:
    return on_q1(
        guest, f"systemctl show -p ActiveEnterTimestampMonotonic --value {PROXY_UNIT}"
    ).stdout


def test_the_guest_starts_with_its_clients_on_m1(q1):
    assert set(BEFORE) >= {"/root/.kube/config", "/etc/kubernetes/kube-proxy.kubeconfig"}
    for path, text in BEFORE.items():
        if path != "/etc/hosts":
            assert f"server: {M1}" in text, path
    wait_for(lambda: served_through(q1, M1), 120, "q1's kubectl straight to m1")
    wait_for(lambda: proxy_healthy(q1), 120, "q1's kube-proxy healthz")


def test_apply_repoints_the_guest_clients_to_the_virtual_server(q1, ipvs):
    before = proxy_started(q1)
    summary = run_apply(build_plan(ipvs), ONLY, recorder := Recorder())
    assert summary.ok, recorder.text()
    assert [n.state for n in summary.nodes] == [NodeState.VERIFIED], recorder.text()
    assert UNIT in summary.nodes[0].restarted
    lb = build_plan(ipvs).server_url
    after = read_kubeconfigs(q1)
    for path, text in BEFORE.items():
        if path != "/etc/hosts":
            assert after[path] == text.replace(f"server: {M1}", f"server: {lb}"), path
    assert proxy_started(q1) != before, "kube-proxy was restarted on its new kubeconfig"
    assert on_q1(q1, f"systemctl is-active {PROXY_UNIT}").stdout.strip() == "active"
    wait_for(lambda: served_through(q1, lb), 60, "q1's kubectl through IPVS")


def programmed(guest, cluster_ip: str) -> bool | str:
    rules = on_q1(guest, "iptables-save").stdout
    return f"{cluster_ip}/32" in rules or f"no rule for {cluster_ip} on q1 yet"


@pytest.mark.parametrize("fault", ["kill", "cut"])
def test_guest_clients_survive_m1_dying(real_lab, q1, ipvs, fault):  # noqa: F811
    """The checker takes m1 out of the table; q1's kubectl and kube-proxy go on through IPVS.
    After a cut the survivors' etcd elects a leader first (seconds): writes are retried."""
    lb = build_plan(ipvs).server_url
    on_m2(real_lab, "delete", "service", PROBE, "--ignore-not-found", "--wait=false")
    (real_lab.kill_apiserver if fault == "kill" else real_lab.cut)("m1")
    began = time.monotonic()
    try:
        wait_for(lambda: served_through(q1, lb), 90, "q1's kubectl through IPVS")
        print(f"ipvs {fault}: q1's kubectl {time.monotonic() - began:.1f} s after")

        def created() -> bool | str:
            made = on_m2(real_lab, "create", "service", "clusterip", PROBE, "--tcp=80:80")
            return made.returncode == 0 or "AlreadyExists" in made.stderr or made.stderr.strip()

        wait_for(created, 60, "a Service created on m2")
        found: list[str] = []

        def read_back() -> bool | str:
            argv = ["get", "service", PROBE, "-o", "jsonpath={.spec.clusterIP}"]
            got = on_m2(real_lab, *argv)
            found[:] = [got.stdout.strip()]
            return got.stdout.strip().startswith("10.254.") or got.stderr.strip() or "no IP yet"

        wait_for(read_back, 60, "the Service's cluster IP")
        wait_for(lambda: programmed(q1, found[0]), 90, "q1's kube-proxy rules for it")
        print(f"ipvs {fault}: Service programmed on q1 {time.monotonic() - began:.1f} s after")
        wait_for(lambda: proxy_healthy(q1), 60, "q1's kube-proxy healthz")
    finally:
        on_m2(real_lab, "delete", "service", PROBE, "--ignore-not-found", "--wait=false")
        real_lab.restore("m1")


def test_uninstall_points_the_guest_clients_back_byte_for_byte(real_lab, q1, ipvs):  # noqa: F811
    summary = run_uninstall(build_plan(ipvs), ONLY, recorder := Recorder())
    assert summary.ok, recorder.text()
    after = read_kubeconfigs(q1)
    after["/etc/hosts"] = on_q1(q1, "cat /etc/hosts").stdout
    assert after == BEFORE
    wait_for(lambda: served_through(q1, M1), 120, "q1's kubectl straight to m1 again")
