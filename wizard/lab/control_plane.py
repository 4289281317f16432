"""The lab's real control plane (``lab up --control-plane real``), laid out as seed 003 does it.

Each master runs an etcd member (one cluster over the lab bridge, TLS from the lab CA),
kube-apiserver, kube-controller-manager and kube-scheduler (``--leader-elect``, leases) as
systemd units; each worker runs kube-proxy (iptables mode). Every node has kubectl and an admin
kubeconfig (``/root/.kube/config``). Like the seed before a load balancer exists, every client's
kubeconfig points at the first master directly.

The binaries are not copied: the cached build (:mod:`wizard.lab.kube_build`) and the host's
Debian etcd are bind-mounted read-only into every node. The node rootfs has no iptables, which
kube-proxy needs: Debian's iptables packages (downloaded once into the cache) are installed into
each worker's overlay before it boots, so the shared rootfs recipe is left as it is.

The apiserver has ``Restart=no`` like the stand-in (``lab kill-apiserver`` must leave it dead
until ``lab restore``; no unit ``Wants=`` it, so a restart of the controller-manager or the
scheduler beside it does not start it again) and ``--shutdown-delay-duration`` for ``lab drain``.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from wizard.lab import pki
from wizard.lab.constants import (
    APISERVER_HOSTNAME,
    APISERVER_PORT,
    CA_CERT_FILE,
    CACHE_DIR,
    HAPROXY_VIP,
    HAPROXY_VIP6,
    IPVS_VIP,
    IPVS_VIP6,
)
from wizard.lab.errors import LabError
from wizard.lab.system import run
from wizard.netaddr import https_url
from wizard.profile import ClientKubeconfig

REAL = "real"
STAND_IN = "stand-in"
KUBEADM = "kubeadm"  # wizard.lab.kubeadm_lab: kubelet, containerd, kubeadm init/join
CONTROL_PLANES = (STAND_IN, REAL, KUBEADM)

APISERVER_UNIT = "kube-apiserver.service"
ETCD_UNIT = "etcd.service"
CONTROLLER_MANAGER_UNIT = "kube-controller-manager.service"
SCHEDULER_UNIT = "kube-scheduler.service"
PROXY_UNIT = "kube-proxy.service"
MASTER_UNITS = (ETCD_UNIT, APISERVER_UNIT, CONTROLLER_MANAGER_UNIT, SCHEDULER_UNIT)

BIN_IN_NODE = "/opt/kubeha-lab/kube/bin"  # the cached build, bind-mounted read-only
ETCD_IN_NODE = "/usr/local/bin/etcd"
ETCDCTL_IN_NODE = "/usr/local/bin/etcdctl"
SSL_DIR = "/etc/kubernetes/ssl"  # the seed's folder
KUBE_DIR = "/etc/kubernetes"
SERVICE_CIDR = "10.254.0.0/16"  # the seed's range (clear of the IPVS VIP 10.103.97.2)
FIRST_SERVICE_IP = "10.254.0.1"
SHUTDOWN_DELAY_S = 6  # as the stand-in's drain: /readyz fails this long before the listener closes
ETCD_TOKEN = "kubeha-lab"
# Debian packages kube-proxy's iptables mode needs beyond the rootfs (its libxtables, libnftnl,
# libmnl and libip4tc are there already through nftables and iproute2).
# The kubeconfigs this lab writes and the unit that reads each: a profile's [clients] list.
CLIENT_KUBECONFIGS = (
    ClientKubeconfig(f"{KUBE_DIR}/admin.kubeconfig"),
    ClientKubeconfig("/root/.kube/config"),
    ClientKubeconfig(f"{KUBE_DIR}/controller-manager.kubeconfig", CONTROLLER_MANAGER_UNIT),
    ClientKubeconfig(f"{KUBE_DIR}/scheduler.kubeconfig", SCHEDULER_UNIT),
    ClientKubeconfig(f"{KUBE_DIR}/kube-proxy.kubeconfig", PROXY_UNIT),
)
NODE_DEBS = ("iptables", "libip6tc2", "libnetfilter-conntrack3", "libnfnetlink0", "netbase")
NODE_DEBS_DIR = CACHE_DIR / "node-debs"


@dataclass(frozen=True)
class ClusterPki:
    """What every node shares: the service-account key pair and the clients' certificates."""

    sa_key: str
    sa_pub: str
    admin: tuple[str, str]
    controller_manager: tuple[str, str]
    scheduler: tuple[str, str]
    proxy: tuple[str, str]


def binds(kube_bin: Path) -> list[tuple[str, str]]:
    """(host path, node path) pairs every node of a real lab gets read-only."""
    return [
        (str(kube_bin), BIN_IN_NODE),
        ("/usr/bin/etcd", ETCD_IN_NODE),
        ("/usr/bin/etcdctl", ETCDCTL_IN_NODE),
    ]


def ensure_node_debs() -> list[Path]:
    """Debian's iptables and the libraries it lacks in the rootfs, downloaded once."""
    NODE_DEBS_DIR.mkdir(parents=True, exist_ok=True)
    debs = _node_debs()
    if len(debs) < len(NODE_DEBS):
        tmp = NODE_DEBS_DIR.with_name(f".node-debs.{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            run(["apt-get", "download", "-q", *NODE_DEBS], timeout=600, cwd=tmp)
            for deb in tmp.glob("*.deb"):
                os.replace(deb, NODE_DEBS_DIR / deb.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        debs = _node_debs()
        if len(debs) < len(NODE_DEBS):
            raise LabError(f"apt-get download gave {len(debs)} of {', '.join(NODE_DEBS)}")
    return debs


def _node_debs() -> list[Path]:
    found = []
    for name in NODE_DEBS:
        matches = sorted(NODE_DEBS_DIR.glob(f"{name}_*.deb"))
        if matches:
            found.append(matches[-1])
    return found


def install_node_debs(root: Path, debs: list[Path]) -> None:
    """Install the debs into a node's tree before it boots (chroot dpkg, no daemons start)."""
    target = root / "tmp/kubeha-debs"
    target.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        shutil.copy(deb, target / deb.name)
    try:
        run(
            ["chroot", str(root), "dpkg", "-i", *(f"/tmp/kubeha-debs/{d.name}" for d in debs)],
            timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
        )
    finally:
        shutil.rmtree(target, ignore_errors=True)


# --- certificates and kubeconfigs ------------------------------------------------------------


def apiserver_sans(master: str, address: str, address6: str = "") -> list[str]:
    """Every name a client of this master's kube-apiserver may dial (in a dual-stack lab, its
    IPv6 address, the IPv6 VIPs and ::1 too)."""
    ips = [address, "127.0.0.1", HAPROXY_VIP, IPVS_VIP, FIRST_SERVICE_IP]
    if address6:
        ips += [address6, "::1", HAPROXY_VIP6, IPVS_VIP6]
    dns = [
        master,
        "localhost",
        APISERVER_HOSTNAME,
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    return [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns]


def issue_cluster_pki() -> ClusterPki:
    """A new service-account key pair and client certificates for one lab."""
    key = run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"]).stdout
    pub = run(["openssl", "ec", "-pubout"], input=key).stdout
    client = "clientAuth"
    return ClusterPki(
        sa_key=key,
        sa_pub=pub,
        admin=pki.issue_cert("admin", organization="system:masters", usage=client),
        controller_manager=pki.issue_cert("system:kube-controller-manager", usage=client),
        scheduler=pki.issue_cert("system:kube-scheduler", usage=client),
        proxy=pki.issue_cert("system:kube-proxy", usage=client),
    )


def kubeconfig(server: str, user: str, cert: tuple[str, str]) -> str:
    """A kubeconfig for ``user`` with its client certificate, the lab CA, one server."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    key_pem, cert_pem = cert
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: kubernetes\n"
        "  cluster:\n"
        f"    server: {server}\n"
        f"    certificate-authority-data: {b64(CA_CERT_FILE.read_text())}\n"
        "users:\n"
        f"- name: {user}\n"
        "  user:\n"
        f"    client-certificate-data: {b64(cert_pem)}\n"
        f"    client-key-data: {b64(key_pem)}\n"
        "contexts:\n"
        f"- name: {user}@kubernetes\n"
        "  context:\n"
        "    cluster: kubernetes\n"
        f"    user: {user}\n"
        f"current-context: {user}@kubernetes\n"
    )


# --- units ------------------------------------------------------------------------------------


def _unit(description: str, exec_start: list[str], extra: str = "", after: str = "") -> str:
    """A unit that starts after ``after`` and does not pull it in: with ``Wants=``, systemd's
    restart of a controller-manager that lost its lease (Restart=on-failure) started the
    apiserver a drill had killed on that master, so a killed master came back by itself. Every
    unit is started at boot by multi-user.target (the links write_node_files makes)."""
    args = " \\\n    ".join(exec_start)
    return (
        "[Unit]\n"
        f"Description={description} (kubeha lab, seed 003)\n"
        f"After=network.target{(' ' + after) if after else ''}\n"
        "\n[Service]\n"
        f"ExecStart={args}\n"
        f"{extra}"
        "LimitNOFILE=65536\n"
        "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def etcd_unit(
    name: str, address: str, members: list[tuple[str, str]], cluster_state: str = "new"
) -> str:
    """``cluster_state``: ``new`` at lab-up, ``existing`` for a member added later (its
    ``etcdctl member add`` done first: wizard.lab.masters)."""
    cluster = ",".join(f"{n}={https_url(a, 2380)}" for n, a in members)
    ssl = SSL_DIR
    return _unit(
        "etcd",
        [
            ETCD_IN_NODE,
            f"--name={name}",
            "--data-dir=/var/lib/etcd",
            f"--listen-client-urls={https_url(address, 2379)},https://127.0.0.1:2379",
            f"--advertise-client-urls={https_url(address, 2379)}",
            f"--listen-peer-urls={https_url(address, 2380)}",
            f"--initial-advertise-peer-urls={https_url(address, 2380)}",
            f"--initial-cluster={cluster}",
            f"--initial-cluster-state={cluster_state}",
            f"--initial-cluster-token={ETCD_TOKEN}",
            f"--cert-file={ssl}/etcd.pem",
            f"--key-file={ssl}/etcd-key.pem",
            f"--trusted-ca-file={ssl}/ca.pem",
            "--client-cert-auth",
            f"--peer-cert-file={ssl}/etcd.pem",
            f"--peer-key-file={ssl}/etcd-key.pem",
            f"--peer-trusted-ca-file={ssl}/ca.pem",
            "--peer-client-cert-auth",
        ],
        "Type=notify\nRestart=on-failure\nRestartSec=2\nTimeoutStartSec=180\n",
    )


# Where kubeadm's kubelet keeps its client certificate and key (one PEM): a hardened lab writes
# one on every node (CN system:node:NAME, O system:nodes), as kubeadm's nodes have it.
KUBELET_CLIENT_PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"


def apiserver_unit(
    address: str, etcd_addresses: list[str], dual_stack: bool = False, *, hardened: bool = False
) -> str:
    """kube-apiserver, advertising its IPv4 address (the Service network is IPv4); in a
    dual-stack lab it listens on :: (both families), so IPv6 clients reach it too."""
    ssl = SSL_DIR
    return _unit(
        "Kubernetes API Server",
        [
            f"{BIN_IN_NODE}/kube-apiserver",
            f"--advertise-address={address}",
            "--bind-address=::" if dual_stack else "--bind-address=0.0.0.0",
            f"--secure-port={APISERVER_PORT}",
            "--insecure-port=0",
            "--etcd-servers=" + ",".join(https_url(a, 2379) for a in etcd_addresses),
            f"--etcd-cafile={ssl}/ca.pem",
            f"--etcd-certfile={ssl}/etcd.pem",
            f"--etcd-keyfile={ssl}/etcd-key.pem",
            f"--tls-cert-file={ssl}/kubernetes.pem",
            f"--tls-private-key-file={ssl}/kubernetes-key.pem",
            f"--client-ca-file={ssl}/ca.pem",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={ssl}/sa.pub",
            f"--service-account-signing-key-file={ssl}/sa.key",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-node-port-range=30000-32767",
            "--authorization-mode=Node,RBAC",
            # Hardened (CIS): an unauthenticated request is refused (401), /readyz included.
            *(["--anonymous-auth=false"] if hardened else []),
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--apiserver-count={len(etcd_addresses)}",
            "--endpoint-reconciler-type=lease",
            f"--shutdown-delay-duration={SHUTDOWN_DELAY_S}s",
            "--event-ttl=1h",
            "--logtostderr=true",
            "--v=0",
        ],
        # Restart=no on purpose: `kubeha lab kill-apiserver` must leave it dead until restore.
        "Type=notify\nRestart=no\nTimeoutStartSec=180\nTimeoutStopSec=60\n",
        after=ETCD_UNIT,
    )


def controller_manager_unit() -> str:
    return _unit(
        "Kubernetes Controller Manager",
        [
            f"{BIN_IN_NODE}/kube-controller-manager",
            f"--kubeconfig={KUBE_DIR}/controller-manager.kubeconfig",
            "--bind-address=127.0.0.1",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--cluster-name=kubernetes",
            f"--root-ca-file={SSL_DIR}/ca.pem",
            f"--service-account-private-key-file={SSL_DIR}/sa.key",
            "--use-service-account-credentials=true",
            # As kubeadm runs it: the bootstrap signer signs cluster-info for each token.
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--leader-elect=true",
            "--leader-elect-resource-lock=leases",
            "--logtostderr=true",
            "--v=0",
        ],
        "Restart=on-failure\nRestartSec=2\n",
        after=APISERVER_UNIT,
    )


def scheduler_unit() -> str:
    return _unit(
        "Kubernetes Scheduler",
        [
            f"{BIN_IN_NODE}/kube-scheduler",
            f"--kubeconfig={KUBE_DIR}/scheduler.kubeconfig",
            "--bind-address=127.0.0.1",
            "--leader-elect=true",
            "--leader-elect-resource-lock=leases",
            "--logtostderr=true",
            "--v=0",
        ],
        "Restart=on-failure\nRestartSec=2\n",
        after=APISERVER_UNIT,
    )


def proxy_unit(name: str, address: str) -> str:
    return _unit(
        "Kubernetes Kube-Proxy",
        [
            f"{BIN_IN_NODE}/kube-proxy",
            f"--kubeconfig={KUBE_DIR}/kube-proxy.kubeconfig",
            "--proxy-mode=iptables",
            f"--hostname-override={name}",
            f"--bind-address={address}",
            "--healthz-bind-address=0.0.0.0:10256",
            "--metrics-bind-address=127.0.0.1:10249",
            # A node's network namespace cannot set the host-wide conntrack table: leave it.
            "--conntrack-max-per-core=0",
            "--conntrack-min=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--logtostderr=true",
            "--v=0",
        ],
        "Restart=on-failure\nRestartSec=2\n",
    )


# --- writing a node's files -------------------------------------------------------------------


def write_node_files(
    root: Path,
    name: str,
    role: str,
    address: str,
    masters: list[tuple[str, str]],
    cluster: ClusterPki,
    hardened: bool = False,
    address6: str = "",
    etcd_state: str = "new",
) -> None:
    """Certificates, kubeconfigs and units for one node of a real lab (before it boots); a
    hardened lab's apiservers refuse anonymous requests and every node gets a kubelet client
    certificate at :data:`KUBELET_CLIENT_PEM`; ``address6``: the node's IPv6 address in a
    dual-stack lab (etcd and the clients' first master stay on IPv4); ``etcd_state``:
    ``existing`` for a master added to a running lab (its clients' server is ``masters[0]``)."""
    first_master = masters[0][1]
    server = https_url(first_master, APISERVER_PORT)
    ssl = root / SSL_DIR.lstrip("/")
    kube = root / KUBE_DIR.lstrip("/")
    write_file(ssl / "ca.pem", CA_CERT_FILE.read_text())
    admin = kubeconfig(server, "admin", cluster.admin)
    write_file(kube / "admin.kubeconfig", admin, 0o600)
    write_file(root / "root/.kube/config", admin, 0o600)
    link_file(root / "usr/local/bin/kubectl", f"{BIN_IN_NODE}/kubectl")
    units: dict[str, str] = {}
    if role == "master":
        etcd_key, etcd_cert = pki.issue_cert(
            f"etcd-{name}",
            [f"IP:{address}", "IP:127.0.0.1", f"DNS:{name}", "DNS:localhost"],
            usage="serverAuth,clientAuth",
        )
        write_file(ssl / "etcd.pem", etcd_cert)
        write_file(ssl / "etcd-key.pem", etcd_key, 0o600)
        api_key, api_cert = pki.issue_cert(
            f"kube-apiserver-{name}", apiserver_sans(name, address, address6)
        )
        write_file(ssl / "kubernetes.pem", api_cert)
        write_file(ssl / "kubernetes-key.pem", api_key, 0o600)
        write_file(ssl / "sa.key", cluster.sa_key, 0o600)
        write_file(ssl / "sa.pub", cluster.sa_pub)
        write_file(
            kube / "controller-manager.kubeconfig",
            kubeconfig(server, "system:kube-controller-manager", cluster.controller_manager),
            0o600,
        )
        write_file(
            kube / "scheduler.kubeconfig",
            kubeconfig(server, "system:kube-scheduler", cluster.scheduler),
            0o600,
        )
        units[ETCD_UNIT] = etcd_unit(name, address, masters, etcd_state)
        units[APISERVER_UNIT] = apiserver_unit(
            address, [a for _, a in masters], dual_stack=bool(address6), hardened=hardened
        )
        units[CONTROLLER_MANAGER_UNIT] = controller_manager_unit()
        units[SCHEDULER_UNIT] = scheduler_unit()
    elif role == "worker":
        write_file(
            kube / "kube-proxy.kubeconfig",
            kubeconfig(server, "system:kube-proxy", cluster.proxy),
            0o600,
        )
        units[PROXY_UNIT] = proxy_unit(name, address)
    if hardened:
        key, cert = pki.issue_cert(
            f"system:node:{name}", organization="system:nodes", usage="clientAuth"
        )
        write_file(root / KUBELET_CLIENT_PEM.lstrip("/"), cert + key, 0o600)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for unit, text in units.items():
        write_file(root / "etc/systemd/system" / unit, text)
        link_file(wants / unit, f"/etc/systemd/system/{unit}")


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file into a node's tree (its folders made), never through a link left there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # never write through a symlink the rootfs left there
    path.write_text(text)
    os.chmod(path, mode)


def link_file(path: Path, target: str) -> None:
    """Make ``path`` a symlink to ``target`` in a node's tree, replacing what is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)
