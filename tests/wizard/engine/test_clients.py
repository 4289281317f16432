"""Client repointing on in-memory nodes: the certificate preflight before any node, the clients
phase after verify (only the server line changes, the unit restarts, a failed check rolls the
kubeconfig back), the dry run's one-line diffs, a re-apply that changes nothing, and the
uninstall that points clients back before the load balancer goes."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from tests.wizard.retrofit.test_cert_preflight import _ca, _serving
from wizard.engine import cert_preflight
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.remote import ORIG
from wizard.profile import ClientKubeconfig, Clients
from wizard.render import build_plan
from wizard.retrofit import certs
from wizard.retrofit.kubeconfig import KubeconfigNow

KUBELET = "/etc/kubernetes/kubelet.conf"
ADMIN = "/etc/kubernetes/admin.conf"
LB = "https://apiserver.cluster.local:8443"
FORMER_LB = "https://127.0.0.1:8443"  # what kubeha repointed to before the API host name


def kubeconfig(server: str, ca_pem: bytes) -> str:
    ca = base64.b64encode(ca_pem).decode()
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca}\n    server: {server}  # kubeadm\n"
        "  name: kubernetes\nkind: Config\n"
    )


@pytest.fixture(scope="module")
def pki():
    ca_key, ca = _ca()
    return ca_key, ca, ca.public_bytes(Encoding.PEM)


@pytest.fixture
def profile():
    base = example_profile("local-nginx")
    return dataclasses.replace(base, clients=Clients(repoint=True, repoint_local=True))


def cluster_for(profile, pki, sans=("apiserver.cluster.local", "127.0.0.1", "kubernetes")):
    ca_key, ca, ca_pem = pki
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    first = profile.masters[0].address
    for node in cluster.nodes.values():
        node.files[KUBELET] = kubeconfig(f"https://{first}:6443", ca_pem)
        node.units["kubelet.service"] = (True, True)
        if profile.role_of(node.name) == "master":
            node.files[ADMIN] = kubeconfig(f"https://{first}:6443", ca_pem)
            _, cert = _serving(ca_key, ca, list(sans))
            node.serving_pem = cert.public_bytes(Encoding.PEM).decode()
    return cluster


def apply(profile, cluster, events=None, **options):
    sink = events.append if events is not None else (lambda e: None)
    options = ApplyOptions(verify_timeout=0.5, **options)
    return run_apply(build_plan(profile), options, sink, connector=cluster)


def states(summary):
    return {n.node: n.state for n in summary.nodes}


def test_apply_repoints_only_the_server_line_and_restarts_the_owner(profile, pki):
    cluster = cluster_for(profile, pki)
    before = {name: dict(node.files) for name, node in cluster.nodes.items()}
    events = []
    summary = apply(profile, cluster, events)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert set(states(summary).values()) == {NodeState.VERIFIED}
    preflight = [e for e in events if e.phase == "preflight"]
    assert [e.status for e in preflight] == ["started", "ok"] * 2  # auth, then certificates
    for name, node in cluster.nodes.items():
        old = before[name][KUBELET]
        assert node.files[KUBELET] == old.replace(f"https://{profile.masters[0].address}:6443", LB)
        assert node.files[KUBELET + ".kubeha-prev"] == old  # the run's backup
        assert "systemctl restart kubelet.service" in node.log
        result = next(n for n in summary.nodes if n.node == name)
        assert KUBELET in result.changed_files and "kubelet.service" in result.restarted
        assert any(f"{KUBELET}: server: https://" in a for a in result.actions)


def test_reapply_changes_nothing(profile, pki):
    cluster = cluster_for(profile, pki)
    apply(profile, cluster)
    for node in cluster.nodes.values():
        node.log.clear()
    summary = apply(profile, cluster)
    assert set(states(summary).values()) == {NodeState.UNCHANGED}
    for node in cluster.nodes.values():
        assert not [x for x in node.log if x.startswith(("commit", "systemctl restart"))]


def test_dry_run_shows_one_line_diffs_and_changes_nothing(profile, pki):
    cluster = cluster_for(profile, pki)
    before = {name: dict(node.files) for name, node in cluster.nodes.items()}
    summary = apply(profile, cluster, dry_run=True)
    assert set(states(summary).values()) == {NodeState.PLANNED}
    m1 = next(n for n in summary.nodes if n.node == profile.masters[0].name)
    old = f"https://{profile.masters[0].address}:6443"
    assert f"would repoint {KUBELET}: server: {old} -> {LB}" in m1.actions
    assert f"would repoint {ADMIN}: server: {old} -> {LB}" in m1.actions
    assert "would restart kubelet.service" in m1.actions
    assert {n: dict(node.files) for n, node in cluster.nodes.items()} == before


def test_facts_name_each_kubeconfig_and_its_server_now(profile, pki):
    """The facts event of every node lists each listed kubeconfig, present or not, with the
    server it uses now; the node's result carries the same (the wizard's Preview reads it)."""
    cluster = cluster_for(profile, pki)
    events = []
    summary = apply(profile, cluster, events, dry_run=True)
    old = f"https://{profile.masters[0].address}:6443"
    master, worker = profile.masters[0].name, profile.workers[0].name
    facts = {e.node: e for e in events if e.phase == "facts" and e.status == "ok"}
    assert f"{KUBELET}: server: {old}" in facts[master].lines
    assert f"{ADMIN}: server: {old}" in facts[master].lines
    assert f"{ADMIN}: not on this node" in facts[worker].lines
    assert "/etc/kubernetes/scheduler.conf: not on this node" in facts[worker].lines
    assert "2 of 4 listed kubeconfig(s) here" in facts[master].message
    assert json.loads(facts[worker].to_json())["lines"] == list(facts[worker].lines)
    results = {n.node: n for n in summary.nodes}
    found = {k.path: k for k in results[worker].kubeconfigs}
    assert found[KUBELET] == KubeconfigNow(KUBELET, "kubelet.service", True, (old,))
    assert not found[ADMIN].present and found[ADMIN].servers == ()


def test_facts_of_an_apply_carry_the_kubeconfigs_as_they_were(profile, pki):
    cluster = cluster_for(profile, pki)
    summary = apply(profile, cluster)
    old = f"https://{profile.masters[0].address}:6443"
    for result in summary.nodes:
        kubelet = next(k for k in result.kubeconfigs if k.path == KUBELET)
        assert kubelet.servers == (old,)  # read before the clients phase repointed it
    summary = apply(profile, cluster)
    for result in summary.nodes:
        kubelet = next(k for k in result.kubeconfigs if k.path == KUBELET)
        assert kubelet.servers == (LB,)


def test_facts_without_repoint_read_no_kubeconfig(pki):
    profile = example_profile("local-nginx")
    cluster = cluster_for(profile, pki)
    events = []
    summary = apply(profile, cluster, events, dry_run=True)
    assert all(not e.lines for e in events if e.phase == "facts")
    assert all(n.kubeconfigs == () for n in summary.nodes)
    assert not any(KUBELET in line for node in cluster.nodes.values() for line in node.log)


@pytest.mark.parametrize("case", ["missing SAN", "other CA"])
def test_preflight_failure_stops_the_run_before_any_node(profile, pki, case):
    if case == "missing SAN":
        cluster = cluster_for(profile, pki, sans=("kubernetes", "192.0.2.11"))
        expected = "does not cover 'apiserver.cluster.local'"
    else:
        cluster = cluster_for(profile, (*_ca()[:2], pki[2]))
        expected = "not issued by the cluster CA"
    events = []
    summary = apply(profile, cluster, events)
    assert not summary.ok
    assert set(states(summary).values()) == {NodeState.UNTOUCHED}
    failed = [e for e in events if e.phase == "preflight" and e.status == "failed"]
    assert failed and expected in failed[0].message and "master master1" in failed[0].message
    assert any("no node was touched" in e.message for e in events if e.node is None)
    for node in cluster.nodes.values():
        assert not [x for x in node.log if x.startswith(("commit", "lock", "systemctl"))]


def test_preflight_without_a_ca_names_the_fix(profile, pki):
    cluster = cluster_for(profile, pki)
    for node in cluster.nodes.values():
        node.files.pop(KUBELET)
        node.files.pop(ADMIN, None)
    events = []
    assert not apply(profile, cluster, events).ok
    failed = next(e for e in events if e.phase == "preflight" and e.status == "failed")
    assert "clients.ca_file" in failed.message


def test_a_client_that_fails_its_check_is_put_back(profile, pki):
    cluster = cluster_for(profile, pki)
    victim = cluster.nodes[profile.workers[0].name]
    victim.clients_ok = False
    original = victim.files[KUBELET]
    summary = apply(profile, cluster)
    assert states(summary)[victim.name] == NodeState.ROLLED_BACK
    assert victim.files[KUBELET] == original
    assert victim.log.count("systemctl restart kubelet.service") == 2  # repointed, then back
    others = {n: s for n, s in states(summary).items() if n != victim.name}
    assert set(others.values()) == {NodeState.VERIFIED}


def test_repoint_off_is_todays_run(pki):
    profile = example_profile("local-nginx")
    cluster = cluster_for(profile, pki)
    before = {name: node.files[KUBELET] for name, node in cluster.nodes.items()}
    events = []
    assert apply(profile, cluster, events).ok
    assert not [e for e in events if e.phase == "clients"]
    # Only the auth preflight: no certificate preflight without repoint.
    assert (
        next(e.message for e in events if e.phase == "preflight") == "how the checks read /readyz"
    )
    assert len([e for e in events if e.phase == "preflight"]) == 2
    assert {n: node.files[KUBELET] for n, node in cluster.nodes.items()} == before


def test_uninstall_points_clients_back_first(pki):
    profile = dataclasses.replace(
        example_profile("local-nginx"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    originals = {name: node.files[KUBELET] for name, node in cluster.nodes.items()}
    assert apply(profile, cluster).ok
    for name, node in cluster.nodes.items():
        node.files[KUBELET + ORIG] = originals[name]  # as the real commit keeps it
        node.log.clear()
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for name, node in cluster.nodes.items():
        assert node.files[KUBELET] == originals[name]
        assert KUBELET + ORIG not in node.files
        restart = node.log.index("systemctl restart kubelet.service")
        assert restart < node.log.index("systemctl stop kube-nginx.service")


@pytest.fixture
def loopback_tls(pki, tmp_path):
    """A TLS server on 127.0.0.1 with a certificate of the test CA (answers 401, as an apiserver
    does to an anonymous request it refuses); its port."""
    ca_key, ca, _ = pki
    key, cert = _serving(ca_key, ca, ["127.0.0.1", "kubernetes"])
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)

    def serve():  # one connection: the fetch's
        try:
            conn, _ = server.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4096)
                tls.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(timeout=5)


@pytest.mark.parametrize("tool", ["curl", "openssl"])
def test_fetch_script_gets_the_served_certificate(pki, loopback_tls, tool):
    if shutil.which(tool) is None:
        pytest.skip(f"no {tool} here")
    script = cert_preflight.fetch_script("127.0.0.1", loopback_tls)
    if tool == "openssl":  # as on a node whose curl prints no chain (older than 7.88)
        script = script.replace("curl -sk", "false")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    found = cert_preflight._PEM.search(proc.stdout)
    assert found, (proc.stdout, proc.stderr)
    der = x509.load_pem_x509_certificate(found[0].encode()).public_bytes(Encoding.DER)
    served = certs.read_cert(der, pki[1])
    assert served.issued_by_ca and certs.problems("m1", served, ("127.0.0.1",)) == []


def test_a_client_that_cannot_be_pointed_back_keeps_the_load_balancer(pki):
    profile = dataclasses.replace(
        example_profile("local-nginx"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    assert apply(profile, cluster).ok
    node = cluster.nodes[profile.workers[0].name]
    node.files[KUBELET + ORIG] = kubeconfig("https://192.0.2.11:6443", pki[2])

    def full_disk(*args, **kwargs):
        raise RuntimeError("cannot write: No space left on device")

    node.stage = full_disk
    node.log.clear()
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    result = next(n for n in summary.nodes if n.node == node.name)
    assert not result.ok and "left in place" in result.reason
    assert "systemctl stop kube-nginx.service" not in node.log


def test_kubeconfigs_an_older_kubeha_pointed_at_the_proxy_move_to_the_name_and_back(pki):
    """Before the API host name, kubeha repointed clients to https://127.0.0.1:8443: a re-apply
    moves them to the name, and uninstall still gives back the original master."""
    profile = dataclasses.replace(
        example_profile("local-nginx"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    originals = {}
    for name, node in cluster.nodes.items():
        originals[name] = node.files[KUBELET]
        old = f"https://{profile.masters[0].address}:6443"
        node.files[KUBELET] = originals[name].replace(old, FORMER_LB)
        node.files[KUBELET + ORIG] = originals[name]  # kept by the older kubeha's repoint
    summary = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for name, node in cluster.nodes.items():
        assert node.files[KUBELET] == originals[name].replace(
            f"https://{profile.masters[0].address}:6443", LB
        )
        result = next(n for n in summary.nodes if n.node == name)
        assert f"{KUBELET}: server: {FORMER_LB} -> {LB}" in result.actions
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for name, node in cluster.nodes.items():
        assert node.files[KUBELET] == originals[name]


def test_uninstall_points_back_what_an_older_kubeha_left_on_the_proxy_address(pki):
    profile = dataclasses.replace(
        example_profile("local-nginx"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    master = f"https://{profile.masters[0].address}:6443"
    for node in cluster.nodes.values():
        node.files[KUBELET + ORIG] = node.files[KUBELET]
        node.files[KUBELET] = node.files[KUBELET].replace(master, FORMER_LB)
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for node in cluster.nodes.values():
        assert f"server: {master}" in node.files[KUBELET] and FORMER_LB not in node.files[KUBELET]
        assert KUBELET + ORIG not in node.files


def test_a_run_that_died_after_repointing_is_finished_by_the_next(profile, pki):
    """The kubeconfig was repointed and journaled, then kubeha died before the restart: the
    next apply restarts kubelet (the file is already what it wants) and clears the journal."""
    from wizard.engine.node_journal import JOURNAL, Journal, JournalEntry

    cluster = cluster_for(profile, pki)
    assert apply(profile, cluster).ok
    node = cluster.nodes[profile.masters[0].name]
    entry = JournalEntry(KUBELET, "kubelet.service", True)
    node.files[JOURNAL] = Journal("dead-run", (entry,)).to_text()
    for each in cluster.nodes.values():
        each.log.clear()
    events = []
    summary = apply(profile, cluster, events)
    result = {n.node: n for n in summary.nodes}
    assert result[node.name].state is NodeState.VERIFIED, result[node.name]
    assert "systemctl restart kubelet.service" in node.log
    assert JOURNAL not in node.files
    assert any("repointed by a run that stopped" in line for e in events for line in e.lines)
    other = cluster.nodes[profile.masters[1].name]
    assert "systemctl restart kubelet.service" not in other.log  # nothing to finish there


def test_repointing_is_journaled_before_the_rename(profile, pki):
    cluster = cluster_for(profile, pki)
    node = cluster.nodes[profile.masters[0].name]
    written = []
    original = node.write_private_file

    def spy(path, text):
        if path.endswith("journal.json"):
            written.append(text)
        original(path, text)

    node.write_private_file = spy
    assert apply(profile, cluster).ok
    assert any(KUBELET in text for text in written)
    assert not [p for p in node.files if p.endswith("journal.json")]


def test_uninstall_points_every_nodes_clients_back_before_any_balancer_goes(pki):
    """haproxy-keepalived: the workers' clients use the masters' VIP; no master removes its
    haproxy before every node's kubeconfigs are pointed back."""
    profile = dataclasses.replace(
        example_profile("haproxy-keepalived"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    originals = {name: node.files[KUBELET] for name, node in cluster.nodes.items()}
    order: list[tuple[str, str]] = []
    for name, node in cluster.nodes.items():
        node.files[KUBELET + ORIG] = originals[name]
        node.files[KUBELET] = originals[name].replace(
            f"https://{profile.masters[0].address}:6443", build_plan(profile).server_url
        )
        systemctl = node.systemctl

        def logged(*args, timeout=90, name=name, systemctl=systemctl):
            order.append((name, " ".join(args)))
            return systemctl(*args, timeout=timeout)

        node.systemctl = logged
    events = []
    summary = run_uninstall(build_plan(profile), ApplyOptions(), events.append, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    restarts = [i for i, (_, what) in enumerate(order) if what == "restart kubelet.service"]
    stops = [i for i, (_, what) in enumerate(order) if what.startswith("stop ")]
    assert len(restarts) == len(cluster.nodes) and stops
    assert max(restarts) < min(stops)  # every client back before any balancer stops
    for name, node in cluster.nodes.items():
        assert node.files[KUBELET] == originals[name]
        done = [e for e in events if e.node == name and e.phase == "done"]
        assert len(done) == 1, done  # one result per node, the removal's


def test_a_node_whose_clients_cannot_go_back_keeps_every_balancer(pki):
    profile = dataclasses.replace(
        example_profile("haproxy-keepalived"),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )
    cluster = cluster_for(profile, pki)
    lb = build_plan(profile).server_url
    for node in cluster.nodes.values():
        node.files[KUBELET + ORIG] = node.files[KUBELET]
        node.files[KUBELET] = node.files[KUBELET].replace(
            f"https://{profile.masters[0].address}:6443", lb
        )
    worker = cluster.nodes[profile.workers[0].name]

    def refuse(path, temp):
        raise RuntimeError(f"cannot rename {temp} over {path}: read-only file system")

    worker.commit = refuse
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert not summary.ok
    for result in summary.nodes:
        assert result.state is NodeState.BROKEN
        if result.node != worker.name:
            assert f"{worker.name} could not point its clients back" in result.reason
    for node in cluster.nodes.values():
        assert not [x for x in node.log if x.startswith("systemctl stop")], node.name


def test_kubeadm_static_pods_are_restarted_through_their_manifest(pki):
    """kubeadm's controller-manager.conf belongs to a static pod: after the repoint (asked for:
    repoint_local) its manifest is moved out and back (wizard.engine.clients.
    manifest_restart_script, tested in a real shell in test_static_pod_restart.py)."""
    clients = Clients(repoint=True, repoint_local=True)
    profile = dataclasses.replace(example_profile("local-nginx"), clients=clients)
    cluster = cluster_for(profile, pki)
    conf = "/etc/kubernetes/controller-manager.conf"
    m1 = cluster.nodes[profile.masters[0].name]
    m1.files[conf] = kubeconfig(f"https://{profile.masters[0].address}:6443", pki[2])
    sh = m1.sh
    scripts = []

    def kubelet(script, timeout=120):
        if "/etc/kubernetes/manifests/kube-controller-manager.yaml" in script:
            m1.log.append("manifest moved out and back")
            scripts.append(script)
            return type(sh(""))(("sh",), 0, "restarted\n", "")
        return sh(script, timeout)

    m1.sh = kubelet
    events = []
    summary = apply(profile, cluster, events)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert "manifest moved out and back" in m1.log
    # kubelet is given 60 s (0.5 s steps) to stop it and to start it again, not the verify
    # limit (0.5 s here, 20 s by default: a loaded lab's kubelet took longer)
    assert "; n=120\n" in scripts[0]
    lines = [line for e in events if e.node == m1.name for line in e.lines]
    assert "restarted static pod kube-controller-manager (its manifest moved out and back)" in lines


def test_without_a_manifest_a_static_pod_is_restarted_through_crictl(pki):
    """A node without the pod's manifest (or without pgrep): its container is stopped through
    crictl when the node has crictl; without crictl it is said, not failed."""
    clients = Clients(repoint=True, repoint_local=True)
    profile = dataclasses.replace(example_profile("local-nginx"), clients=clients)
    cluster = cluster_for(profile, pki)
    conf = "/etc/kubernetes/controller-manager.conf"
    m1 = cluster.nodes[profile.masters[0].name]
    m1.files[conf] = kubeconfig(f"https://{profile.masters[0].address}:6443", pki[2])
    containers = {"kube-controller-manager": "old-1"}
    sh = m1.sh

    def crictl(script, timeout=120):
        if "/etc/kubernetes/manifests/" in script:
            return type(sh(""))(("sh",), 0, "no-manifest\n", "")
        if "crictl ps" in script and "kube-controller-manager" in script:
            m1.log.append("crictl ps")
            return type(sh(""))(("sh",), 0, containers["kube-controller-manager"] + "\n", "")
        if script.startswith("crictl stop"):
            m1.log.append(script)
            containers["kube-controller-manager"] = "new-2"  # kubelet starts a new one
            return type(sh(""))(("sh",), 0, "", "")
        return sh(script, timeout)

    m1.sh = crictl
    events = []
    summary = apply(profile, cluster, events)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    assert "crictl stop old-1" in m1.log
    lines = [line for e in events if e.node == m1.name for line in e.lines]
    assert "restarted static pod kube-controller-manager" in lines
    m2 = cluster.nodes[profile.masters[1].name]
    assert not [x for x in m2.log if "crictl stop" in x]


def test_kubeadms_local_kubeconfigs_stay_local_by_default(pki):
    """controller-manager.conf, scheduler.conf and a master's kubelet.conf that name the
    master's own apiserver stay there unless repoint_local; a kubelet.conf naming another
    master (a worker's, m2's naming m1) moves to the load balancer."""
    profile = dataclasses.replace(example_profile("local-nginx"), clients=Clients(repoint=True))
    cluster = cluster_for(profile, pki)
    m1, m2 = (cluster.nodes[m.name] for m in profile.masters[:2])
    own = f"https://{profile.masters[0].address}:6443"
    local = ("/etc/kubernetes/controller-manager.conf", "/etc/kubernetes/scheduler.conf")
    for path in local:
        m1.files[path] = kubeconfig(own, pki[2])
    m2_own = f"https://{profile.masters[1].address}:6443"
    m2.files[local[1]] = kubeconfig(m2_own.replace(profile.masters[1].address, "127.0.0.1"), pki[2])
    before = {name: dict(node.files) for name, node in cluster.nodes.items()}
    events = []
    summary = apply(profile, cluster, events, dry_run=True)
    m1_result = next(n for n in summary.nodes if n.node == m1.name)
    lines = [line for e in events if e.node == m1.name and e.phase == "clients" for line in e.lines]
    kept = f"left as is: {own}: this master's own apiserver, kept local ([clients] repoint_local"
    for path in (*local, KUBELET):
        assert any(line.startswith(f"{path}: {kept}") for line in lines), (path, lines)
    assert not any("would repoint /etc/kubernetes/controller-" in a for a in m1_result.actions)
    summary = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for path in (*local, KUBELET):
        assert m1.files[path] == before[m1.name][path], path
    assert m2.files[local[1]] == before[m2.name][local[1]]  # loopback: its own apiserver
    assert LB in m2.files[KUBELET]  # names m1, not m2's own apiserver: repointed
    worker = cluster.nodes[profile.workers[0].name]
    assert LB in worker.files[KUBELET]
    # Asked for: every one of them moves (each static pod restarted through its manifest).
    sh = m1.sh

    def kubelet(script, timeout=120):
        if "/etc/kubernetes/manifests/" in script:
            return type(sh(""))(("sh",), 0, "restarted\n", "")
        return sh(script, timeout)

    m1.sh = kubelet
    asked = dataclasses.replace(profile, clients=Clients(repoint=True, repoint_local=True))
    assert apply(asked, cluster).ok
    for path in (*local, KUBELET):
        assert LB in m1.files[path], path


def test_a_bad_pod_name_is_named():
    from wizard.validation import validate

    profile = dataclasses.replace(
        example_profile("local-nginx"),
        clients=Clients(
            repoint=True, kubeconfigs=(ClientKubeconfig("/etc/k.conf", pod="Bad Pod"),)
        ),
    )
    problems = [p for p in validate(profile) if p.field == "clients.kubeconfigs[0].pod"]
    assert problems and "Bad Pod" in str(problems[0].value)


@pytest.mark.parametrize("kind", ["a folder", "a fifo, not a regular file"])
def test_a_kubeconfig_that_is_not_a_regular_file_stops_its_node_before_any_change(
    profile, pki, kind
):
    """A folder at kubelet.conf's path used to read as "not on this node"; now the node stops
    at its facts, naming itself, the path and what is there, before anything is installed."""
    cluster = cluster_for(profile, pki)
    victim = cluster.nodes[profile.workers[0].name]
    victim.kinds[ADMIN] = kind
    before = dict(victim.files)
    events = []
    summary = apply(profile, cluster, events)
    result = next(n for n in summary.nodes if n.node == victim.name)
    assert result.state is NodeState.UNTOUCHED, result
    assert f"node {victim.name}: {ADMIN} is {kind}" in result.reason
    assert "nothing was changed" in result.reason
    assert victim.files == before
    assert not [x for x in victim.log if x.startswith(("commit", "systemctl"))]


# --- issue 26: point-back by cluster name, the CA of kubeha's cluster --------------------------

OTHER = "- cluster:\n    server: https://other.example.org:6443\n  name: added\n"


def kubelet_only(base="local-nginx"):
    return dataclasses.replace(
        example_profile(base),
        clients=Clients(
            repoint=True,
            repoint_local=True,
            kubeconfigs=(ClientKubeconfig(KUBELET, "kubelet.service"),),
        ),
    )


def test_apply_records_the_cluster_it_repointed_by_name(pki):
    from wizard.engine.clients import RECORD

    profile = kubelet_only()
    cluster = cluster_for(profile, pki)
    assert apply(profile, cluster).ok
    for node in cluster.nodes.values():
        assert json.loads(node.files[RECORD]) == {"kubeconfigs": {KUBELET: ["kubernetes"]}}
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok
    assert not [n for n in cluster.nodes.values() if RECORD in n.files]


def test_uninstall_points_back_by_name_after_a_cluster_was_added_ahead(pki):
    """Matched by position, the added cluster's line took kubeha's place: nothing was pointed
    back, the .kubeha-orig was deleted all the same and the load balancer removed."""
    profile = kubelet_only()
    cluster = cluster_for(profile, pki)
    originals = {name: node.files[KUBELET] for name, node in cluster.nodes.items()}
    assert apply(profile, cluster).ok
    for name, node in cluster.nodes.items():
        node.files[KUBELET + ORIG] = originals[name]  # as the real commit keeps it
        node.files[KUBELET] = node.files[KUBELET].replace("clusters:\n", "clusters:\n" + OTHER)
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for name, node in cluster.nodes.items():
        assert node.files[KUBELET] == originals[name].replace("clusters:\n", "clusters:\n" + OTHER)
        assert KUBELET + ORIG not in node.files


def test_a_renamed_cluster_keeps_its_backup_and_the_load_balancer(pki):
    profile = kubelet_only()
    cluster = cluster_for(profile, pki)
    originals = {name: node.files[KUBELET] for name, node in cluster.nodes.items()}
    assert apply(profile, cluster).ok
    victim = cluster.nodes[profile.workers[0].name]
    for name, node in cluster.nodes.items():
        node.files[KUBELET + ORIG] = originals[name]
        node.log.clear()
    renamed = victim.files[KUBELET].replace("name: kubernetes\n", "name: k8s\n")
    victim.files[KUBELET] = renamed
    summary = run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster)
    assert not summary.ok
    result = next(n for n in summary.nodes if n.node == victim.name)
    assert "cannot be pointed back" in result.reason and "'k8s'" in result.reason
    assert "load balancer left in place" in result.reason
    assert (
        victim.files[KUBELET] == renamed and victim.files[KUBELET + ORIG] == originals[victim.name]
    )
    for node in cluster.nodes.values():  # no node removes its balancer: clients may use it
        assert "systemctl stop kube-nginx.service" not in node.log


def two_clusters(server: str, other_ca: bytes, ca: bytes) -> str:
    """Another cluster first (with its own CA), kubeha's second, the current context's."""
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(other_ca).decode()}\n"
        "    server: https://other.example.org:6443\n  name: other\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(ca).decode()}\n"
        f"    server: {server}\n  name: kubernetes\n"
        "contexts:\n- context:\n    cluster: kubernetes\n    user: u\n  name: u@kubernetes\n"
        "current-context: u@kubernetes\nkind: Config\n"
    )


def test_the_ca_checked_is_the_repointed_clusters_not_the_files_first(profile, pki):
    """The preflight took the first cluster's CA (another cluster's): every master 'not issued
    by the cluster CA'. The clients' check took it too for curl."""
    other_pem = _ca()[1].public_bytes(Encoding.PEM)
    cluster = cluster_for(profile, pki)
    first = f"https://{profile.masters[0].address}:6443"
    for node in cluster.nodes.values():
        node.files[KUBELET] = two_clusters(first, other_pem, pki[2])
        node.files.pop(ADMIN, None)
    summary = apply(profile, cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for node in cluster.nodes.values():
        assert node.files["/run/kubeha/clients-ca.pem"] == pki[2].decode()
