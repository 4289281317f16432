"""The lab on real nodes: up, reachability, SSH with checked host keys, faults, down.

Runs as root (CI does). Keep ``test_down_leaves_nothing_behind`` last: it takes the lab down,
checks nothing is left and brings it back for whatever runs next.
"""

from __future__ import annotations

import os
import subprocess
import time

import paramiko
import pytest

from wizard.lab import Lab, down, load_state, up
from wizard.lab.constants import BRIDGE_NETNS, NODES_DIR, STATE_FILE
from wizard.lab.lab import lab_processes
from wizard.lab.network import lab_namespaces
from wizard.lab.node import exec_argv, lab_mounts
from wizard.lab.system import start_time

pytestmark = pytest.mark.lab

CURL = ["curl", "-sS", "--cacert", "/etc/kubeha-lab/ca.crt"]


def curl_from(lab: Lab, node: str, url: str, max_time: float = 3) -> subprocess.CompletedProcess:
    argv = [*CURL, "-m", str(max_time), "-i", url]
    return lab.exec_in_node(node, argv, timeout=max_time + 10)


def test_lab_is_up_with_three_masters_and_two_workers(lab: Lab):
    assert [n.name for n in lab.masters] == ["m1", "m2", "m3"]
    assert [n.name for n in lab.workers] == ["w1", "w2"]
    assert lab.healthy()
    for n in lab.nodes:
        out = lab.exec_in_node(n.name, ["systemctl", "is-system-running"]).stdout.strip()
        assert out in ("running", "degraded"), (n.name, out)
        assert lab.exec_in_node(n.name, ["hostname"]).stdout.strip() == n.name


def test_host_namespace_has_no_lab_address_or_route(lab: Lab):
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.77.0." not in addrs and "10.77.0." not in routes
    for ns in [BRIDGE_NETNS, *(n.netns for n in lab.nodes)]:
        ns_routes = subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True).stdout
        assert "default" not in ns_routes, ns


def test_every_master_is_ready_from_every_other_node(lab: Lab):
    for client in lab.nodes:
        for master in lab.masters:
            if master.name == client.name:
                continue
            proc = curl_from(lab, client.name, f"https://{master.address}:6443/readyz")
            assert proc.returncode == 0, (client.name, master.name, proc.stderr)
            assert proc.stdout.startswith("HTTP/1.1 200"), proc.stdout
            assert f"X-Lab-Master: {master.name}" in proc.stdout
            assert proc.stdout.rstrip().endswith("ok")


def test_certificate_names_and_whoami(lab: Lab):
    m1 = lab.node("m1")
    for name in ("kubernetes", "apiserver.cluster.local", "m1"):
        argv = [*CURL, "-m", "3", "--resolve", f"{name}:6443:{m1.address}"]
        proc = lab.exec_in_node("w1", [*argv, f"https://{name}:6443/whoami"])
        assert proc.returncode == 0, (name, proc.stderr)
        assert proc.stdout.strip() == "m1"


def test_watch_streams_events_and_ends_when_the_apiserver_dies(lab: Lab):
    m2 = lab.node("m2")
    url = f"https://{m2.address}:6443/api/v1/namespaces/default/pods?watch=true"
    init = lab.node("w1").init_pid
    watch = subprocess.Popen(
        exec_argv(init, [*CURL, "-N", "-m", "30", url]), stdout=subprocess.PIPE, text=True
    )
    try:
        first = watch.stdout.readline()
        second = watch.stdout.readline()
        assert '"MODIFIED"' in first and '"master": "m2"' in second
        lab.kill_apiserver("m2")
        started = time.monotonic()
        watch.stdout.read()  # EOF, not a stall
        assert watch.wait(timeout=10) != 28  # not curl's own timeout
        # A stall would last until curl's own 30 s limit: well before it, on a loaded host too.
        assert time.monotonic() - started < 20
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        lab.restore("m2")


def ssh_client(lab: Lab, known_hosts: str | None = None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts or str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def test_ssh_to_every_node_with_checked_host_keys(lab: Lab):
    for n in lab.nodes:
        client = ssh_client(lab)
        try:
            client.connect(
                n.ssh_host,
                port=n.ssh_port,
                username="root",
                key_filename=str(lab.ssh_key_file),
                allow_agent=False,
                look_for_keys=False,
                timeout=10,
            )
            _, stdout, _ = client.exec_command("hostname; systemctl is-active ssh")
            assert stdout.read().decode().split() == [n.name, "active"]
        finally:
            client.close()


def test_ssh_rejects_an_unknown_host_key(lab: Lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    client = ssh_client(lab, str(empty))
    n = lab.node("w2")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            n.ssh_host,
            port=n.ssh_port,
            username="root",
            key_filename=str(lab.ssh_key_file),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
    client.close()


def test_kill_apiserver_refuses_then_restore_answers(lab: Lab):
    m1 = lab.node("m1")
    url = f"https://{m1.address}:6443/readyz"
    lab.kill_apiserver("m1")
    try:
        proc = curl_from(lab, "w1", url)
        # Connection refused: curl's 7 at once, where a silent drop would end in its 28 after
        # the 3 s limit (the exit code proves it; no timing, which a loaded host stretches).
        assert proc.returncode == 7, proc.stderr
    finally:
        lab.restore("m1")
    assert curl_from(lab, "w1", url).returncode == 0


def test_cut_times_out_then_restore_answers(lab: Lab):
    m3 = lab.node("m3")
    url = f"https://{m3.address}:6443/readyz"
    lab.cut("m3")
    try:
        assert lab.is_cut("m3")
        proc = curl_from(lab, "w2", url, max_time=2)
        assert proc.returncode == 28, proc.stderr  # timed out: no answer at all
    finally:
        lab.restore("m3")
    assert not lab.is_cut("m3")
    proc = curl_from(lab, "w2", url)
    assert proc.returncode == 0, proc.stderr


def test_up_again_reuses_the_running_lab(lab: Lab):
    again = up(3, 2, 0, log=lambda _: None)
    assert [n.nspawn_pid for n in again.nodes] == [n.nspawn_pid for n in lab.nodes]
    from wizard.lab.errors import LabError

    with pytest.raises(LabError, match="lab down"):
        up(2, 0, 0, log=lambda _: None)


def test_down_leaves_nothing_behind(lab: Lab):
    state = load_state()
    assert state is not None
    pids = [(state.forwarder_pid, state.forwarder_started)]
    for n in state.nodes:
        pids += [(n.nspawn_pid, n.nspawn_started), (n.init_pid, n.init_started)]
    procs = lab_processes(state)  # every process of every container, not only the recorded
    assert len(procs) > len(pids)
    try:
        assert down(log=lambda _: None) is True
        # Right after down() returns: no process of the lab left in /proc, not even a zombie
        # (down used to return while its nspawn processes were still there), no mount, no netns.
        assert [p.describe() for p in procs if p.exists()] == []
        assert not any(start_time(pid) == started for pid, started in pids)
        assert lab_namespaces() == []
        assert lab_mounts() == []
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert "veth-" not in links and "br0" not in links
        assert not STATE_FILE.exists()
        assert not any(NODES_DIR.iterdir()) if NODES_DIR.exists() else True
        assert not any(os.path.exists(f"/run/netns/{n.netns}") for n in state.nodes)
        assert down(log=lambda _: None) is False  # nothing up: still fine
    finally:
        # Bring the lab back for whatever runs after this module in the session.
        up(3, 2, 0, log=lambda _: None)
        lab.refresh()
