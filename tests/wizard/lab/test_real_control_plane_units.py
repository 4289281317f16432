"""The real control plane's pieces that need no lab and no build: the Kubernetes build's cache
key and stamp, apt's source listing, the certificates' names, kubeconfigs and units."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest

from wizard.lab import constants, control_plane, kube_build, masters, pki
from wizard.lab.errors import LabError
from wizard.lab.state import LabState

SHOWSRC = f"""Package: kubernetes
Binary: kubernetes-client
Version: 1.20.5+really1.20.2-1
Checksums-Sha256:
 aaaa 1973 kubernetes_1.20.5+really1.20.2-1.dsc

Package: kubernetes
Binary: kubernetes-client
Version: {kube_build.SOURCE_VERSION}
Package-List:
 kubernetes-client deb admin optional arch=amd64
Checksums-Sha256:
 1111 1973 kubernetes_x.dsc
 2222 34428927 kubernetes_x.orig.tar.gz
 3333 21300 kubernetes_x.debian.tar.xz
Homepage: http://kubernetes.io/
"""


def test_source_checksums_pick_the_pinned_version(monkeypatch):
    def fake_run(argv, **kwargs):
        assert argv == ["apt-cache", "showsrc", "kubernetes"]
        return subprocess.CompletedProcess(argv, 0, SHOWSRC, "")

    monkeypatch.setattr(kube_build, "run", fake_run)
    assert kube_build.source_checksums() == {
        "kubernetes_x.dsc": "1111",
        "kubernetes_x.orig.tar.gz": "2222",
        "kubernetes_x.debian.tar.xz": "3333",
    }


def test_source_checksums_name_the_missing_version(monkeypatch):
    monkeypatch.setattr(
        kube_build, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 0, "", "")
    )
    with pytest.raises(LabError, match="deb-src"):
        kube_build.source_checksums()


def test_cache_key_follows_source_go_and_recipe(monkeypatch):
    sums = {"a.orig.tar.gz": "11", "a.dsc": "22"}
    key = kube_build.cache_key(sums, "go1.19.8")
    assert len(key) == 12
    assert kube_build.cache_key(dict(reversed(sums.items())), "go1.19.8") == key
    assert kube_build.cache_key({**sums, "a.dsc": "23"}, "go1.19.8") != key
    assert kube_build.cache_key(sums, "go1.19.9") != key
    monkeypatch.setattr(kube_build, "RECIPE_VERSION", "another")
    assert kube_build.cache_key(sums, "go1.19.8") != key


def test_a_build_counts_only_with_its_stamp_and_every_binary(tmp_path: Path):
    build = tmp_path / "kube-abc"
    (build / "bin").mkdir(parents=True)
    for name in kube_build.BINARIES:
        (build / "bin" / name).write_text("#!/bin/sh\n")
        (build / "bin" / name).chmod(0o755)
    assert not kube_build.is_complete(build, "abc")  # no stamp yet
    (build / kube_build.STAMP).write_text("abc\n")
    assert kube_build.is_complete(build, "abc")
    assert not kube_build.is_complete(build, "abd")
    (build / "bin/kube-proxy").unlink()
    assert not kube_build.is_complete(build, "abc")


def test_apiserver_certificate_names_every_endpoint_a_client_dials():
    sans = control_plane.apiserver_sans("m2", "10.77.0.12")
    for ip in ("10.77.0.12", "127.0.0.1", constants.HAPROXY_VIP, constants.IPVS_VIP, "10.254.0.1"):
        assert f"IP:{ip}" in sans
    for name in (
        "m2",
        "localhost",
        "apiserver.cluster.local",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ):
        assert f"DNS:{name}" in sans
    assert "IP:10.77.0.11" not in sans  # another master's address is not this one's name
    assert not any(":" in s.removeprefix("IP:") for s in sans if s.startswith("IP:"))


def test_a_dual_stack_real_apiserver_listens_on_both_families_with_ipv6_names():
    sans = control_plane.apiserver_sans("m2", "10.77.0.12", "fd77::12")
    for ip in ("10.77.0.12", "fd77::12", "::1", constants.HAPROXY_VIP6, constants.IPVS_VIP6):
        assert f"IP:{ip}" in sans
    masters = ["10.77.0.11", "10.77.0.12"]
    assert "--bind-address=::" in control_plane.apiserver_unit("10.77.0.12", masters, True)
    plain = control_plane.apiserver_unit("10.77.0.12", masters)
    assert "--bind-address=0.0.0.0" in plain and "--advertise-address=10.77.0.12" in plain


def test_the_service_range_holds_the_first_service_ip_but_not_the_ipvs_vip():
    import ipaddress

    cidr = ipaddress.ip_network(control_plane.SERVICE_CIDR)
    assert ipaddress.ip_address(control_plane.FIRST_SERVICE_IP) == cidr.network_address + 1
    assert ipaddress.ip_address(constants.IPVS_VIP) not in cidr


def test_issued_client_certificate_carries_subject_and_usage(tmp_path, monkeypatch):
    monkeypatch.setattr(pki, "CA_DIR", tmp_path)
    monkeypatch.setattr(pki, "CA_CERT_FILE", tmp_path / "ca.crt")
    monkeypatch.setattr(pki, "CA_KEY_FILE", tmp_path / "ca.key")
    pki.ensure_ca()
    key, cert = pki.issue_cert("admin", organization="system:masters", usage="clientAuth")
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text"], input=cert, capture_output=True, text=True
    ).stdout
    assert "CN = admin" in text and "O = system:masters" in text
    assert "TLS Web Client Authentication" in text
    assert "Subject Alternative Name" not in text
    assert "PRIVATE KEY" in key


def test_kubeconfig_points_at_one_server_with_the_lab_ca(tmp_path, monkeypatch):
    ca = tmp_path / "ca.crt"
    ca.write_text("CA PEM\n")
    monkeypatch.setattr(control_plane, "CA_CERT_FILE", ca)
    text = control_plane.kubeconfig("https://10.77.0.11:6443", "admin", ("KEY\n", "CERT\n"))
    assert "server: https://10.77.0.11:6443" in text
    ca_data = base64.b64encode(b"CA PEM\n").decode()
    key_data = base64.b64encode(b"KEY\n").decode()
    assert f"certificate-authority-data: {ca_data}" in text
    assert f"client-key-data: {key_data}" in text
    assert "current-context: admin@kubernetes" in text


def test_units_follow_the_seed_and_the_lab_faults():
    masters = [("m1", "10.77.0.11"), ("m2", "10.77.0.12"), ("m3", "10.77.0.13")]
    api = control_plane.apiserver_unit("10.77.0.12", [a for _, a in masters])
    assert "Restart=no" in api  # kill-apiserver leaves it dead until restore
    assert "Type=notify" in api
    assert "--shutdown-delay-duration=6s" in api
    assert "--authorization-mode=Node,RBAC" in api
    assert "--service-account-signing-key-file=" in api
    assert "--etcd-servers=https://10.77.0.11:2379,https://10.77.0.12:2379," in api
    etcd = control_plane.etcd_unit("m2", "10.77.0.12", masters)
    assert "--initial-cluster=m1=https://10.77.0.11:2380,m2=https://10.77.0.12:2380," in etcd
    assert "--client-cert-auth" in etcd and "--peer-client-cert-auth" in etcd
    for unit in (control_plane.controller_manager_unit(), control_plane.scheduler_unit()):
        assert "--leader-elect=true" in unit and "--leader-elect-resource-lock=leases" in unit
        # ordered after the apiserver, as seed 003 does, never pulling it in: systemd's restart
        # of a controller-manager that lost its lease started a killed apiserver again
        assert "After=network.target kube-apiserver.service" in unit
        assert "Wants=" not in unit and "Requires=" not in unit
    # As kubeadm runs it: the bootstrap signer signs cluster-info (test_api_objects checks it).
    assert "--controllers=*,bootstrapsigner,tokencleaner" in control_plane.controller_manager_unit()
    proxy = control_plane.proxy_unit("w1", "10.77.0.21")
    assert "--proxy-mode=iptables" in proxy and "--hostname-override=w1" in proxy


def test_up_refuses_an_unknown_control_plane(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(LabError, match="expected one of stand-in, real, kubeadm"):
        from wizard.lab import lab

        lab.up(1, 0, 0, control_plane="nonesuch")


def test_apiserver_unit_follows_the_labs_control_plane():
    from wizard.lab import lab

    state = LabState(1, 0, 0, "/r", "ns")
    assert lab.apiserver_unit(state) == constants.APISERVER_SERVICE
    state.control_plane = "real"
    assert lab.apiserver_unit(state) == "kube-apiserver.service"


def test_a_hardened_lab_refuses_anonymous_requests_and_gives_each_node_a_kubelet_cert(
    tmp_path, monkeypatch
):
    masters = [("m1", "10.77.0.11")]
    assert "--anonymous-auth" not in control_plane.apiserver_unit("10.77.0.11", ["10.77.0.11"])
    hardened = control_plane.apiserver_unit("10.77.0.11", ["10.77.0.11"], hardened=True)
    assert "--anonymous-auth=false" in hardened
    monkeypatch.setattr(pki, "CA_DIR", tmp_path)
    monkeypatch.setattr(pki, "CA_CERT_FILE", tmp_path / "ca.crt")
    monkeypatch.setattr(pki, "CA_KEY_FILE", tmp_path / "ca.key")
    monkeypatch.setattr(control_plane, "CA_CERT_FILE", tmp_path / "ca.crt")
    pki.ensure_ca()
    cluster = control_plane.ClusterPki("S", "P", *(("K", "C"),) * 4)
    root = tmp_path / "w1"
    control_plane.write_node_files(root, "w1", "lb", "10.77.0.31", masters, cluster, True)
    pem = root / control_plane.KUBELET_CLIENT_PEM.lstrip("/")
    assert oct(pem.stat().st_mode & 0o777) == "0o600"
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-subject"],
        input=pem.read_text(),
        capture_output=True,
        text=True,
    ).stdout
    assert "CN = system:node:w1" in text and "O = system:nodes" in text
    assert "PRIVATE KEY" in pem.read_text()  # cert and key in one PEM, as kubelet's


def test_hardened_needs_the_real_control_plane(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    from wizard.lab import lab

    with pytest.raises(LabError, match="--hardened"):
        lab.up(1, 0, 0, hardened=True)


def test_a_master_added_later_joins_the_existing_etcd_cluster():
    members = [("m4", "10.77.0.14"), ("m1", "10.77.0.11"), ("m2", "10.77.0.12")]
    etcd = control_plane.etcd_unit("m4", "10.77.0.14", members, "existing")
    assert "--initial-cluster-state=existing" in etcd
    assert "m4=https://10.77.0.14:2380,m1=https://10.77.0.11:2380" in etcd
    assert "--initial-cluster-state=new" in control_plane.etcd_unit("m1", "10.77.0.11", members)
    from wizard.lab import masters

    assert masters.urlhost("https://10.77.0.11:2380") == "10.77.0.11"
    assert masters.urlhost("https://[fd77::11]:2380") == "fd77::11"


def test_a_lab_whose_masters_changed_is_not_reused(monkeypatch, tmp_path):
    """`lab up` of the same shape replaces a lab whose masters were added or removed."""
    from wizard.lab import lab

    state = LabState(3, 0, 0, "/r", "ns", control_plane="real", ready=True)
    for name in ("m1", "m2", "m4"):
        state.nodes.append(
            lab.NodeState(name, "master", "10.77.0.1", "127.0.0.1", 1, "ns-" + name, "/m")
        )
    said: list[str] = []

    class Stop(Exception):
        pass

    def teardown(*_):
        raise Stop

    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr(lab, "read_state", lambda: state)
    monkeypatch.setattr(lab, "is_healthy", lambda _: True)
    monkeypatch.setattr(lab, "rootfs_path", lambda: Path("/r"))
    monkeypatch.setattr(lab, "_teardown", teardown)
    monkeypatch.setattr(lab, "lab_lock", lambda: __import__("contextlib").nullcontext())
    monkeypatch.setattr(
        "wizard.lab.kube_build.ensure_kube", lambda log: type("K", (), {"bin_dir": "/k"})
    )
    with pytest.raises(Stop):
        lab.up(3, 0, 0, control_plane="real", replace=True, log=said.append)
    assert "the lab that is up had masters added or removed: replacing it" in said


def test_a_node_forwarder_no_record_names_is_stopped(tmp_path):
    """An added master's forwarder left by a lab taken down without it (it holds its port)."""
    import sys

    from wizard.lab import forwarder_spawn

    ready = f"--ready-file={tmp_path}/forwarder-m9.ready"  # never a running lab's
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "wizard.lab.forwarder", ready]
    stray = subprocess.Popen(argv)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "x"])
    try:
        recorded = LabState(1, 0, 0, "/r", "ns")
        deadline = time.monotonic() + 10
        while stray.pid not in forwarder_spawn.stop_stale_forwarders(recorded, tmp_path):
            assert time.monotonic() < deadline, "the stray forwarder was not found"
            time.sleep(0.1)
        assert stray.wait(10) != 0
        assert other.poll() is None  # nothing else is touched
    finally:
        for proc in (stray, other):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_a_new_master_never_takes_a_removed_ones_name_or_port():
    from wizard.lab.masters import free_master_indexes

    assert free_master_indexes([1, 2, 3], 3, 9)[0] == 4
    assert free_master_indexes([2, 3, 4], 3, 9)[0] == 5  # m1 gone: m5, not m1
    assert free_master_indexes([1, 2], 3, 9)[0] == 4  # m3 gone: its port is the lab's forwarder's
    assert free_master_indexes([1, 2, 9], 3, 9) == []  # none left: add_master says so


# etcdctl 3.4.23 (Debian's, as the lab mounts it), `endpoint status -w json` on a member that leads.
STATUS = (
    '[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":324952591200643719,'
    '"member_id":3319814642761637952,"revision":1,"raft_term":2},"version":"3.4.23",'
    '"dbSize":20480,"leader":3319814642761637952,"raftIndex":4,"raftTerm":2,'
    '"raftAppliedIndex":4,"dbSizeInUse":16384}}]'
)


def test_a_member_leads_when_its_own_status_names_it_leader():
    assert masters.leads(STATUS)
    assert not masters.leads(STATUS.replace('"leader":3319814642761637952', '"leader":77'))
    with pytest.raises(LabError, match="endpoint status"):
        masters.leads("Error: context deadline exceeded")


def test_a_leading_member_hands_over_leadership_before_its_removal(monkeypatch):
    """Removing the member that leads makes the others elect a leader, and every apiserver's
    requests fail while they do (the HTTP 500s of bench.master_replace's first step): the lab
    moves leadership to a member that stays first, on the leader itself, then removes it."""
    calls: list[tuple[str, tuple[str, ...]]] = []

    def etcdctl(state, on, *args, timeout=60):
        calls.append((on, args))
        return STATUS if args[:2] == ("endpoint", "status") else ""

    monkeypatch.setattr(masters, "_etcdctl", etcdctl)
    ids = {"m1": "2e1259d415f2a040", "m2": "8e9e05c52164694d"}
    assert masters._hand_over_leadership(None, "m1", "m2", ids)
    assert calls == [
        ("m1", ("endpoint", "status", "-w", "json")),
        ("m1", ("move-leader", "8e9e05c52164694d")),
    ]
    calls.clear()
    monkeypatch.setattr(masters, "leads", lambda text: False)
    assert not masters._hand_over_leadership(None, "m1", "m2", ids)
    assert [args[0] for _, args in calls] == ["endpoint"]  # a follower: nothing moved
