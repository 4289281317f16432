"""The kubeadm-shaped lab (``lab up --control-plane kubeadm``): kubelet, containerd and runc on
every nspawn node, the control plane made by the source's own ``kubeadm init`` and ``join``.

What each node gets:

- a second read-only layer over the shared rootfs (:func:`ensure_layer`): Debian's containerd,
  runc, containernetworking-plugins, iptables and conntrack installed once with ``dpkg`` into an
  overlay whose upper folder is cached, plus kubelet's unit and kubeadm's drop-in and the
  containerd config. The shared rootfs recipe is left as it is.
- kubelet and kubeadm from the cached build (:func:`wizard.lab.kube_build.ensure_node_binaries`),
  kubectl from the five-binary build, bind-mounted read-only.
- images built here from the cached binaries (:mod:`wizard.lab.oci`), no registry: pause (the
  source's build/pause compiled with gcc), kube-apiserver, kube-controller-manager,
  kube-scheduler and kube-proxy under the names kubeadm 1.20 expects
  (``k8s.gcr.io/<name>:v1.20.2``), and etcd from Debian's ``etcd-server`` (3.4.23, tagged with its
  own version through ``etcd.local.imageTag``: kubeadm 1.20 would name 3.4.13-0).

What nspawn lacks for kubelet and runc, and what the lab does about it (evidence in the
report of issue 24 and the comments below): a cgroup subtree of its own per node (nspawn without
machined leaves every container in the caller's cgroup), the cgroup v1 controllers writable
(nspawn mounts them read-only), the keyring system calls (nspawn's seccomp filter refuses them;
runc creates a session keyring), /dev/kmsg (kubelet's OOM watcher), and four host-wide kernel
settings that kubelet writes at start: the node gets its own files for those, never the host's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from wizard.lab import oci
from wizard.lab.cached_build import cached_build
from wizard.lab.constants import (
    APISERVER_HOSTNAME,
    APISERVER_PORT,
    CA_CERT_FILE,
    CA_KEY_FILE,
    CACHE_DIR,
    HAPROXY_VIP,
    IPVS_VIP,
)
from wizard.lab.control_plane import link_file, write_file
from wizard.lab.errors import LabError
from wizard.lab.system import run

KUBEADM = "kubeadm"

# Debian packages a kubeadm node has beyond the rootfs (iptables' libraries as the real lab's).
LAYER_DEBS = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "conntrack",
    "libnetfilter-cthelper0",
    "libnetfilter-queue1",
    "socat",
    "ethtool",
    "iptables",
    "libip6tc2",
    "libnetfilter-conntrack3",
    "libnfnetlink0",
    "netbase",
)
LAYER_RECIPE_VERSION = "1"
STAMP = ".kubeha-kubeadm-stamp"
DEBS_DIR = CACHE_DIR / "kubeadm-node-debs"

KUBE_BIN_IN_NODE = "/opt/kubeha-lab/kube/bin"  # kubectl and the five binaries (read-only)
NODE_BIN_IN_NODE = "/opt/kubeha-lab/kubeadm/bin"  # kubelet, kubeadm (read-only)
IMAGES_IN_NODE = "/opt/kubeha-lab/images"
BALANCER_IMAGES_TAR = "/opt/kubeha-lab/balancer-images/balancers.tar"  # wizard.lab.balancer_images
CONTAINERD_IN_NODE = (
    "/var/lib/containerd"  # a host folder: overlayfs cannot be an upper on overlayfs
)
INIT_CONFIG = "/etc/kubeha-lab/kubeadm-init.yaml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
MANIFESTS_DIR = "/etc/kubernetes/manifests"
KUBELET_UNIT = "kubelet.service"
SERVICE_SUBNET = "10.254.0.0/16"  # clear of the IPVS VIP 10.103.97.2 (kubeadm's 10.96/12 is not)
POD_SUBNET_PREFIX = "10.244"  # each node's bridge: 10.244.<its last octet>.0/24
IMAGE_REPOSITORY = "k8s.gcr.io"  # kubeadm 1.20's default
PAUSE_IMAGE = f"{IMAGE_REPOSITORY}/pause:3.4"  # the source's build/pause TAG
ETCD_TAG = "3.4.23"  # Debian bookworm's etcd-server
MASTER_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
# Preflight checks Debian forces to fail, each ignored by name (and only these): Debian 12 has
# no cri-tools package, so there is no crictl to find.
IGNORED_PREFLIGHT = ("FileExisting-crictl",)
# kubeadm 1.20's preflight phase of `init` and `join --control-plane` ends with the image pull,
# which builds its crictl-based runtime client first and fails on the missing crictl before any
# check (app/preflight/checks.go, RunPullImagesCheck: not an ignorable check). Those two skip
# the phase; the images are imported with ctr before. A worker's `join` runs its preflight.
MASTER_SKIPPED_PHASES = ("preflight",)
BOOT_TIMEOUT = 900.0  # images, init and joins on a loaded 2-core machine

# Four settings kubelet writes at start (its container manager fails without them). They are
# host-wide: a node must not change them for the whole machine (measured: a kubelet with
# writable /proc/sys set vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1 on
# the host). Each node gets its own files, bind-mounted over them inside the node.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
)

HOST_SETUP = f"""#!/bin/sh
# kubeha lab (kubeadm): what an nspawn node lacks for kubelet and runc, before containerd starts.
set -e
# nspawn mounts the cgroup v1 controllers read-only; the node owns its own subtree of each.
for c in /sys/fs/cgroup/*; do
  [ "$(stat -f -c %T "$c")" = cgroupfs ] || continue
  mount -o remount,bind,rw "$c"
done
# kubelet's host-wide kernel settings: the node's own files, never the host's.
mkdir -p /run/kubeha-lab/sysctl
for key in {" ".join(KUBELET_SYSCTLS)}; do
  file=/run/kubeha-lab/sysctl/$(echo "$key" | tr / .)
  mountpoint -q "/proc/sys/$key" && continue
  cat "/proc/sys/$key" > "$file"
  mount --bind "$file" "/proc/sys/$key"
done
"""

HOST_SETUP_UNIT = """[Unit]
Description=kubeha lab: cgroups and kernel settings for kubelet in an nspawn node
DefaultDependencies=no
Before=containerd.service kubelet.service
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/kubeha-lab/kubelet-host.sh

[Install]
WantedBy=multi-user.target
"""

# kubelet's unit and kubeadm's drop-in as the Kubernetes packages ship them (the source tarball
# has none: they live in the release repository).
KUBELET_SERVICE = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/home/
Wants=network-online.target
After=network-online.target kubeha-kubelet-host.service containerd.service
Requires=kubeha-kubelet-host.service

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

KUBEADM_DROPIN = """# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

CONTAINERD_CONFIG = f"""version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This machine's bounding set lacks CAP_SYS_RESOURCE, so no process may lower its
  # oom_score_adj below 0; the sandbox's -998 made runc fail ("can't get final child's PID").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
"""


def nspawn_args() -> list[str]:
    """The flags a kubeadm node's nspawn gets beyond a lab node's."""
    return [
        "--capability=all",  # runc and kubelet (CAP_SYS_ADMIN is there already; SYS_PTRACE...)
        # nspawn's seccomp filter refuses keyctl/add_key: runc joins a new session keyring.
        "--system-call-filter=@keyring bpf",
        "--bind=/dev/kmsg",  # kubelet's OOM watcher reads it
    ]


# --- the cached layer and images ----------------------------------------------------------------


def layer_key(rootfs: Path, kube_bin: Path, node_bin: Path) -> str:
    text = "\n".join(
        [
            LAYER_RECIPE_VERSION,
            rootfs.name,
            kube_bin.parent.name,
            node_bin.parent.name,
            *LAYER_DEBS,
            HOST_SETUP,
            HOST_SETUP_UNIT,
            KUBELET_SERVICE,
            KUBEADM_DROPIN,
            CONTAINERD_CONFIG,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def layer_path(key: str) -> Path:
    return CACHE_DIR / f"lab-kubeadm-{key}"


def ensure_layer(
    rootfs: Path, kube_bin: Path, node_bin: Path, log: Callable[[str], None] = print
) -> Path:
    """The cached folder with ``layer/`` (the node's second lower layer) and ``images/``
    (``master.tar``, ``worker.tar``); built once (about a minute), locked, atomic."""
    key = layer_key(rootfs, kube_bin, node_bin)
    path = layer_path(key)
    started = time.monotonic()

    def build(work: Path) -> None:
        log(f"building the kubeadm node layer and images into {path}")
        _build_layer(work, rootfs, kube_bin, node_bin)
        (work / STAMP).write_text(key + "\n")

    if cached_build(
        path,
        prefix="lab-kubeadm-",
        lock=CACHE_DIR / "lab-kubeadm.lock",
        done=lambda folder: (folder / STAMP).is_file(),
        build=build,
        log=log,
        on_failure=lambda work: run(["umount", "-l", str(work / "merged")], check=False),
    ):
        log(f"kubeadm node layer and images built in {time.monotonic() - started:.0f} s")
    return path


def _debs() -> list[Path]:
    DEBS_DIR.mkdir(parents=True, exist_ok=True)
    found = {}
    for name in LAYER_DEBS:
        matches = sorted(DEBS_DIR.glob(f"{name}_*.deb"))
        if matches:
            found[name] = matches[-1]
    missing = [n for n in LAYER_DEBS if n not in found]
    if missing:
        run(["apt-get", "download", "-q", *missing], timeout=600, cwd=DEBS_DIR)
        return _debs_found_all()
    return list(found.values())


def _debs_found_all() -> list[Path]:
    found = []
    for name in LAYER_DEBS:
        matches = sorted(DEBS_DIR.glob(f"{name}_*.deb"))
        if not matches:
            raise LabError(f"apt-get download did not give {name}")
        found.append(matches[-1])
    return found


def _build_layer(work: Path, rootfs: Path, kube_bin: Path, node_bin: Path) -> None:
    debs = _debs()
    upper, wdir, merged = work / "layer", work / "work", work / "merged"
    for d in (upper, wdir, merged):
        d.mkdir(parents=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "kubeha-kubeadm-layer",
            "-o",
            f"lowerdir={rootfs},upperdir={upper},workdir={wdir}",
            str(merged),
        ]
    )
    try:
        staged = merged / "tmp/kubeha-debs"
        staged.mkdir(parents=True)
        for deb in debs:
            shutil.copy(deb, staged / deb.name)
        policy = merged / "usr/sbin/policy-rc.d"
        write_file(policy, "#!/bin/sh\nexit 101\n", 0o755)  # no daemon starts in the chroot
        run(
            ["chroot", str(merged), "sh", "-c", "dpkg -i /tmp/kubeha-debs/*.deb"],
            timeout=300,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
        )
        policy.unlink()
        shutil.rmtree(staged)
        write_file(merged / "usr/local/lib/kubeha-lab/kubelet-host.sh", HOST_SETUP, 0o755)
        system = merged / "etc/systemd/system"
        write_file(system / "kubeha-kubelet-host.service", HOST_SETUP_UNIT)
        write_file(system / KUBELET_UNIT, KUBELET_SERVICE)
        write_file(system / "kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
        write_file(merged / "etc/containerd/config.toml", CONTAINERD_CONFIG)
        wants = system / "multi-user.target.wants"
        for unit in ("kubeha-kubelet-host.service", KUBELET_UNIT):
            link_file(wants / unit, f"/etc/systemd/system/{unit}")
        link_file(merged / "usr/bin/kubelet", f"{NODE_BIN_IN_NODE}/kubelet")
        link_file(merged / "usr/bin/kubeadm", f"{NODE_BIN_IN_NODE}/kubeadm")
        link_file(merged / "usr/local/bin/kubectl", f"{KUBE_BIN_IN_NODE}/kubectl")
        (work / "images").mkdir()
        _write_images(work / "images", merged, kube_bin, node_bin)
    finally:
        run(["umount", str(merged)], check=False)
    shutil.rmtree(wdir, ignore_errors=True)
    merged.rmdir()


def _elf_closure(root: Path, files: list[str]) -> dict[str, Path]:
    """Each file (a path inside ``root``) and the shared libraries ``ldd`` lists for it, as
    {path in image: real file on the host}; symlinks resolved to the files they name."""
    found: dict[str, Path] = {}
    for name in files:
        found[name] = (root / name.lstrip("/")).resolve()
        proc = run(["chroot", str(root), "ldd", name], check=False)
        for line in proc.stdout.splitlines():
            words = line.split()
            lib = words[2] if "=>" in words and len(words) > 2 else words[0] if words else ""
            if lib.startswith("/"):
                real = root / lib.lstrip("/")
                found[lib] = Path(os.path.realpath(real))
                if not str(found[lib]).startswith(str(root)):  # an absolute link in the tree
                    found[lib] = root / os.readlink(real).lstrip("/")
    return found


def _write_images(target: Path, root: Path, kube_bin: Path, node_bin: Path) -> None:
    """master.tar (every image) and worker.tar (pause and kube-proxy) in ``target``."""
    version = (kube_bin.parent / "VERSION").read_text().strip()
    pause = oci.Image(PAUSE_IMAGE, {"/pause": node_bin / "pause"}, entrypoint=("/pause",))
    plain = {
        name: oci.Image(
            f"{IMAGE_REPOSITORY}/{name}:{version}",
            {f"/usr/local/bin/{name}": kube_bin / name},
        )
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    }
    # kube-proxy's iptables mode runs iptables (nft backend, as the node's own) and conntrack.
    xtables = "/usr/sbin/xtables-nft-multi"
    modules = sorted(
        f"/{p.relative_to(root)}" for p in (root / "usr/lib/x86_64-linux-gnu/xtables").glob("*.so")
    )
    files = _elf_closure(root, [xtables, "/usr/sbin/conntrack", *modules])
    files["/usr/local/bin/kube-proxy"] = kube_bin / "kube-proxy"
    links = {
        f"/usr/sbin/{tool}": "xtables-nft-multi"
        for tool in (
            "iptables",
            "iptables-save",
            "iptables-restore",
            "ip6tables",
            "ip6tables-save",
            "ip6tables-restore",
        )
    }
    proxy = oci.Image(f"{IMAGE_REPOSITORY}/kube-proxy:{version}", files, links)
    # etcd: Debian's (dynamically linked: the host's libc beside it).
    etcd_files = _elf_closure(Path("/"), ["/usr/bin/etcd"])
    etcd_files["/usr/local/bin/etcd"] = etcd_files.pop("/usr/bin/etcd")
    etcd_files["/usr/local/bin/etcdctl"] = Path("/usr/bin/etcdctl").resolve()
    etcd = oci.Image(f"{IMAGE_REPOSITORY}/etcd:{ETCD_TAG}", etcd_files)
    oci.write_archive([pause, *plain.values(), proxy, etcd], target / "master.tar")
    oci.write_archive([pause, proxy], target / "worker.tar")


# --- node files ---------------------------------------------------------------------------------


def pod_subnet(address: str) -> str:
    return f"{POD_SUBNET_PREFIX}.{address.rsplit('.', 1)[1]}.0/24"


def cni_config(address: str) -> str:
    """The bridge plugin (Debian's containernetworking-plugins) with this node's own subnet."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "kubeha-lab",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": pod_subnet(address)}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        },
        indent=1,
    )


class Secrets:
    """One lab's bootstrap token and certificate key (kubeadm's formats)."""

    def __init__(self) -> None:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        self.token = (
            "".join(secrets.choice(alphabet) for _ in range(6))
            + "."
            + "".join(secrets.choice(alphabet) for _ in range(16))
        )
        self.certificate_key = secrets.token_hex(32)


def init_config(name: str, address: str, first_master: str, token: str, cert_key: str) -> str:
    """kubeadm 1.20's v1beta2 InitConfiguration + ClusterConfiguration, and the kubelet's and
    kube-proxy's component configs. controlPlaneEndpoint: the first master itself (one master,
    as a cluster is before kubeha makes it HA; ``join --control-plane`` needs one set)."""
    sans = [HAPROXY_VIP, IPVS_VIP, "127.0.0.1", APISERVER_HOSTNAME, "localhost"]
    return f"""apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
bootstrapTokens:
- token: "{token}"
  ttl: 24h0m0s
certificateKey: "{cert_key}"
localAPIEndpoint:
  advertiseAddress: {address}
  bindPort: {APISERVER_PORT}
nodeRegistration:
  name: {name}
  criSocket: /run/containerd/containerd.sock
  kubeletExtraArgs:
    node-ip: {address}
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: {{version}}
clusterName: kubernetes
controlPlaneEndpoint: "{first_master}:{APISERVER_PORT}"
imageRepository: {IMAGE_REPOSITORY}
networking:
  serviceSubnet: {SERVICE_SUBNET}
  dnsDomain: cluster.local
apiServer:
  certSANs: [{", ".join(f'"{s}"' for s in sans)}]
etcd:
  local:
    imageTag: "{ETCD_TAG}"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"""


def write_node_files(
    root: Path,
    name: str,
    role: str,
    address: str,
    first_master: str,
    lab_secrets: Secrets,
    version: str,
) -> None:
    """Before the node boots: kubelet's node IP, the CNI config, and on the first master the
    lab CA (kubeadm signs with an existing CA, so the lab's profiles trust its apiservers) and
    kubeadm's init config."""
    write_file(root / "etc/default/kubelet", f"KUBELET_EXTRA_ARGS=--node-ip={address}\n")
    write_file(root / "etc/cni/net.d/10-kubeha-lab.conflist", cni_config(address) + "\n")
    if role == "master" and address == first_master:
        pki = root / "etc/kubernetes/pki"
        write_file(pki / "ca.crt", CA_CERT_FILE.read_text())
        write_file(pki / "ca.key", CA_KEY_FILE.read_text(), 0o600)
        text = init_config(
            name, address, first_master, lab_secrets.token, lab_secrets.certificate_key
        ).replace("{version}", version)
        write_file(root / INIT_CONFIG.lstrip("/"), text, 0o600)


def ca_cert_hash() -> str:
    """``sha256:<hex>`` of the lab CA's public key (DER SubjectPublicKeyInfo), as join wants."""
    pub = run(["openssl", "x509", "-noout", "-pubkey", "-in", str(CA_CERT_FILE)]).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pub.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return "sha256:" + hashlib.sha256(der).hexdigest()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- bring-up after boot ------------------------------------------------------------------------

Exec = Callable[..., subprocess.CompletedProcess[str]]
# Starts a command in a node and returns at once (its output piped): (node, argv) -> Popen.
Start = Callable[[str, list[str]], subprocess.Popen[str]]


def _checked(exec_in: Exec, name: str, argv: list[str], what: str, timeout: float = 120):
    proc = exec_in(name, argv, timeout=timeout)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()[-1500:]
        raise LabError(f"{what} on {name} failed ({proc.returncode}):\n{out}")
    return proc


def _wait(what: str, deadline: float, probe: Callable[[], str | None], pause: float = 1) -> None:
    """Poll ``probe`` (None when done, else why not) until ``deadline``."""
    while True:
        reason = probe()
        if reason is None:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not within the lab's deadline ({reason})")
        time.sleep(pause)


def _ctr_answers(exec_in: Exec, name: str) -> Callable[[], str | None]:
    """A check for :func:`_wait`: None once containerd answers ``ctr version`` in ``name``."""

    def check() -> str | None:
        done = exec_in(name, ["ctr", "version"], timeout=15)
        return None if done.returncode == 0 else "ctr version fails"

    return check


def import_images(name: str, exec_in: Exec, role: str = "worker") -> None:
    """A node's images (``master.tar`` or ``worker.tar``) into its containerd, once it answers."""
    _wait(f"containerd on {name}", time.monotonic() + 120, _ctr_answers(exec_in, name), 0.5)
    tar = f"{IMAGES_IN_NODE}/{'master' if role == 'master' else 'worker'}.tar"
    _checked(
        exec_in, name, ["ctr", "-n", "k8s.io", "images", "import", tar], "ctr images import", 600
    )


def bring_up(
    nodes: list[tuple[str, str, str]],
    exec_in: Exec,
    start_in: Start,
    lab_secrets: Secrets,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Images into containerd on every node, ``kubeadm init`` on the first master,
    ``join --control-plane`` on the others, ``join`` on the workers, until kube-proxy is
    Ready on every node. ``nodes``: (name, role, address). Returns the seconds each step took."""
    times: dict[str, float] = {}
    deadline = time.monotonic() + BOOT_TIMEOUT
    started = time.monotonic()
    for name, _role, _ in nodes:
        _wait(
            f"containerd on {name}",
            deadline,
            _ctr_answers(exec_in, name),
            0.5,
        )
    procs = []
    for name, role, _ in nodes:  # the imports run in parallel, one per node
        tar = f"{IMAGES_IN_NODE}/{'master' if role == 'master' else 'worker'}.tar"
        procs.append(
            (
                name,
                start_in(name, ["ctr", "-n", "k8s.io", "images", "import", tar]),
            )
        )
    _finish_imports(procs)
    times["images"] = time.monotonic() - started
    log(f"  images imported into containerd on {len(nodes)} nodes in {times['images']:.0f} s")
    # The balancers' images (wizard.lab.balancer_images: the static-pod profiles) are imported
    # while kubeadm runs, and waited for at the end: the bring-up takes no longer for them.
    balancers = [
        (name, start_in(name, ["ctr", "-n", "k8s.io", "images", "import", BALANCER_IMAGES_TAR]))
        for name, _role, _ in nodes
    ]
    masters = [n for n in nodes if n[1] == "master"]
    first, _, first_address = masters[0]
    ignore = f"--ignore-preflight-errors={','.join(IGNORED_PREFLIGHT)}"
    step = time.monotonic()
    _checked(
        exec_in,
        first,
        [
            "kubeadm",
            "init",
            f"--config={INIT_CONFIG}",
            "--upload-certs",
            # No CoreDNS image: the Debian source builds no CoreDNS (and nothing here needs DNS).
            f"--skip-phases={','.join((*MASTER_SKIPPED_PHASES, 'addon/coredns'))}",
        ],
        "kubeadm init",
        timeout=600,
    )
    _checked(
        exec_in,
        first,
        ["sh", "-c", f"mkdir -p /root/.kube && cp {ADMIN_CONF} /root/.kube/config"],
        "admin kubeconfig",
    )
    times["init"] = time.monotonic() - step
    log(f"  kubeadm init on {first} in {times['init']:.0f} s")
    join = [
        "kubeadm",
        "join",
        f"{first_address}:{APISERVER_PORT}",
        f"--token={lab_secrets.token}",
        f"--discovery-token-ca-cert-hash={ca_cert_hash()}",
        ignore,
    ]
    for name, _, address in masters[1:]:
        step = time.monotonic()
        _checked(
            exec_in,
            name,
            [
                *join,
                "--control-plane",
                f"--skip-phases={','.join(MASTER_SKIPPED_PHASES)}",
                f"--certificate-key={lab_secrets.certificate_key}",
                f"--apiserver-advertise-address={address}",
            ],
            "kubeadm join --control-plane",
            timeout=600,
        )
        _checked(
            exec_in,
            name,
            ["sh", "-c", f"mkdir -p /root/.kube && cp {ADMIN_CONF} /root/.kube/config"],
            "admin kubeconfig",
        )
        times[f"join {name}"] = time.monotonic() - step
        log(f"  kubeadm join --control-plane on {name} in {times[f'join {name}']:.0f} s")
    step = time.monotonic()
    for name, role, _ in nodes:
        if role == "worker":
            _checked(exec_in, name, join, "kubeadm join", timeout=600)
    workers = [n for n in nodes if n[1] == "worker"]
    if workers:
        times["join workers"] = time.monotonic() - step
        log(f"  kubeadm join on {len(workers)} workers in {times['join workers']:.0f} s")
    step = time.monotonic()
    kubectl = ["kubectl", f"--kubeconfig={ADMIN_CONF}", "-n", "kube-system"]

    def proxies_ready() -> str | None:
        proc = exec_in(
            first,
            [*kubectl, "get", "daemonset", "kube-proxy", "-o", "jsonpath={.status.numberReady}"],
            timeout=30,
        )
        ready = proc.stdout.strip()
        return (
            None
            if ready == str(len(nodes))
            else f"{ready or '?'} of {len(nodes)} kube-proxy pods Ready"
        )

    _wait("kube-proxy on every node", deadline, proxies_ready, 2)
    times["kube-proxy ready"] = time.monotonic() - step
    step = time.monotonic()
    _finish_imports(balancers)
    times["balancer images"] = time.monotonic() - step
    log(f"  balancer images imported ({times['balancer images']:.0f} s more)")
    times["total"] = time.monotonic() - started
    return times


def _finish_imports(procs: list[tuple[str, subprocess.Popen[str]]]) -> None:
    """Waits for each node's ``ctr images import``; the first that failed raises."""
    for name, proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise LabError(f"ctr images import on {name} failed: {(out + err).strip()[-800:]}")
