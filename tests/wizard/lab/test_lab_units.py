"""Lab pieces that need no running lab: root check, plan, ports, rootfs stamp, profiles, and
waiting until stopped processes have left /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import paramiko
import pytest

from tests.support.deadlines import POLL_S
from wizard.lab import balancer_images, constants, lab, oci, pki, profiles, rootfs
from wizard.lab import control_plane as cp
from wizard.lab.errors import LabError, NotRootError
from wizard.lab.node import NodeSpec
from wizard.lab.state import LabState, NodeState
from wizard.lab.system import process_tree, require_gone, require_root, start_time, wait_gone
from wizard.profile import KUBEADM_KUBECONFIGS
from wizard.profile_io import profile_from_dict
from wizard.validation import validate


def test_non_root_gets_a_clear_error():
    with pytest.raises(NotRootError, match="needs root"):
        require_root(euid=1000)


def test_lab_commands_refuse_without_root(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    for call in (lambda: lab.up(1, 0, 0), lab.down, lambda: lab.cut("m1")):
        with pytest.raises(NotRootError, match="sudo"):
            call()


def test_address_and_port_scheme():
    specs = lab.plan(3, 2, 1)
    assert [(s.name, s.address) for s in specs] == [
        ("m1", "10.77.0.11"),
        ("m2", "10.77.0.12"),
        ("m3", "10.77.0.13"),
        ("w1", "10.77.0.21"),
        ("w2", "10.77.0.22"),
        ("lb1", "10.77.0.31"),
    ]
    assert [constants.ssh_port(s.address) for s in specs] == [2211, 2212, 2213, 2221, 2222, 2231]
    assert constants.node_netns("m1") == "kubeha-lab-m1"
    with pytest.raises(LabError):
        lab.plan(0, 2, 0)
    with pytest.raises(LabError):
        lab.plan(10, 2, 0)
    with pytest.raises(LabError):
        lab.plan(3, 100, 0)
    # Workers 10 to 99 (deploy-scale runs) take .110 to .199, SSH 2310 to 2399.
    big = {s.name: s.address for s in lab.plan(3, 99, 0)}
    assert (big["w9"], big["w10"], big["w99"]) == ("10.77.0.29", "10.77.0.110", "10.77.0.199")
    assert constants.ssh_port(big["w99"]) == 2399
    assert len(set(big.values())) == 102


def test_busy_ssh_port_is_reported():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 2299))
        holder.listen(1)
        with pytest.raises(LabError, match="2299"):
            lab._check_ports_free([NodeSpec("x9", "worker", "10.77.0.99")])


def test_rootfs_without_stamp_or_key_files_is_not_trusted(tmp_path):
    assert not rootfs.is_complete(tmp_path)
    (tmp_path / rootfs.STAMP).write_text("0000stale\n")
    for f in rootfs.KEY_FILES:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).touch()
    assert not rootfs.is_complete(tmp_path)  # stale recipe hash
    (tmp_path / rootfs.STAMP).write_text(rootfs.recipe_hash() + "\n")
    assert rootfs.is_complete(tmp_path)
    (tmp_path / "usr/sbin/sshd").unlink()
    assert not rootfs.is_complete(tmp_path)  # broken


@pytest.fixture
def lab_keys(tmp_path, monkeypatch):
    """The lab's SSH key and known_hosts as files that exist (a profile that names missing ones
    does not validate; on a machine that never ran a lab they are missing)."""
    for name, file in (("SSH_KEY_FILE", "id_ed25519"), ("KNOWN_HOSTS_FILE", "known_hosts")):
        path = tmp_path / "lab-ssh" / file
        path.parent.mkdir(exist_ok=True)
        path.write_text("")
        monkeypatch.setattr(profiles, name, path)


def _state(lb: int = 0, ipv6: bool = False) -> LabState:
    state = LabState(3, 2, lb, rootfs="/r", bridge_netns="kubeha-lab", ipv6=ipv6)
    for spec in lab.plan(3, 2, lb, ipv6):
        state.nodes.append(
            NodeState(
                spec.name,
                spec.role,
                spec.address,
                "127.0.0.1",
                constants.ssh_port(spec.address),
                constants.node_netns(spec.name),
                merged="/m",
                address6=spec.address6,
            )
        )
    return state


def test_a_dual_stack_lab_mirrors_every_address_in_fd77():
    assert [(s.name, s.address, s.address6) for s in lab.plan(1, 1, 1, ipv6=True)] == [
        ("m1", "10.77.0.11", "fd77::11"),
        ("w1", "10.77.0.21", "fd77::21"),
        ("lb1", "10.77.0.31", "fd77::31"),
    ]
    assert all(s.address6 == "" for s in lab.plan(1, 1, 1))
    assert constants.address6("10.77.0.110") == "fd77::110"


def test_a_dual_stack_lab_writes_ipv6_profiles_that_validate(tmp_path, lab_keys):
    from wizard.profile_io import load_profile
    from wizard.validation import validate

    written = profiles.write_profiles(_state(ipv6=True), tmp_path)
    names = [p.name for p in written]
    assert names[:4] == [
        "lab-local-nginx.toml",
        "lab-haproxy-keepalived.toml",
        "lab-ipvs.toml",
        "lab-local-haproxy.toml",
    ]
    assert names[4:] == [
        "lab-local-nginx-ipv6.toml",
        "lab-haproxy-keepalived-ipv6.toml",
        "lab-ipvs-ipv6.toml",
        "lab-local-haproxy-ipv6.toml",
    ]
    for path in written:
        profile = load_profile(path)
        assert [str(p) for p in validate(profile) if p.is_error] == [], path.name
    nginx = tomllib.loads(written[4].read_text())
    assert nginx["name"] == "lab-local-nginx-ipv6"
    assert nginx["masters"][0]["address"] == "fd77::11"
    assert nginx["masters"][0]["ssh"] == {"host": "127.0.0.1", "port": 2211}
    assert nginx["local_nginx"]["listen_address"] == "::1"
    hk = tomllib.loads(written[5].read_text())["haproxy_keepalived"]
    assert (hk["vip"], hk["prefix_length"]) == ("fd77::100", 64)
    assert tomllib.loads(written[6].read_text())["ipvs"]["vip"] == "fd77:97::2"
    with pytest.raises(LabError, match="no IPv6"):
        profiles.build_profile(_state(), "local-nginx", ipv6=True)


def test_dual_stack_sans_and_lab_profile_recognition(monkeypatch):
    from wizard.commands.lab_drill import same_address

    sans = pki.apiserver_sans("m1", ["10.77.0.11", "fd77::11"])
    for entry in ("IP:fd77::11", "IP:fd77::100", "IP:fd77:97::2", "IP:::1", "IP:10.77.0.11"):
        assert entry in sans
    assert "IP:::1" not in pki.apiserver_sans("m1", ["10.77.0.11"])
    node = _state(ipv6=True).nodes[0]
    assert same_address("fd77::11", node) and same_address("fd77:0::11", node)
    assert same_address("10.77.0.11", node) and not same_address("fd77::12", node)


def test_profiles_have_the_agreed_shape(tmp_path):
    written = profiles.write_profiles(_state(), tmp_path)
    assert [p.name for p in written] == [
        "lab-local-nginx.toml",
        "lab-haproxy-keepalived.toml",
        "lab-ipvs.toml",
        "lab-local-haproxy.toml",
    ]
    local_haproxy = tomllib.loads(written[3].read_text())
    assert local_haproxy["strategy"] == "local-haproxy"
    assert local_haproxy["local_haproxy"] == {
        "listen_address": "127.0.0.1",
        "listen_port": 8443,
        "apiserver_hostname": "apiserver.cluster.local",
    }
    nginx = tomllib.loads(written[0].read_text())
    assert nginx["schema_version"] == 1 and nginx["strategy"] == "local-nginx"
    assert nginx["masters"][0] == {
        "name": "m1",
        "address": "10.77.0.11",
        "apiserver_port": 6443,
        "ssh": {"host": "127.0.0.1", "port": 2211},
    }
    assert nginx["workers"][1]["ssh"]["port"] == 2222
    assert "lb_nodes" not in nginx and "haproxy_keepalived" not in nginx
    assert nginx["local_nginx"] == {
        "listen_address": "127.0.0.1",
        "listen_port": 8443,
        "apiserver_hostname": "apiserver.cluster.local",
    }
    assert nginx["ssh"]["key_file"] == str(constants.SSH_KEY_FILE)
    assert Path(nginx["ssh"]["known_hosts"]).is_absolute()
    hk = tomllib.loads(written[1].read_text())["haproxy_keepalived"]
    assert hk["vip"] == "10.77.0.100" and hk["run_on"] == "masters" and hk["unicast"] is True
    ipvs = tomllib.loads(written[2].read_text())["ipvs"]
    assert ipvs == {
        "vip": "10.103.97.2",
        "port": 6443,
        "scheduler": "rr",
        "apiserver_hostname": "apiserver.cluster.local",
    }
    with_lb = profiles.build_profile(_state(lb=2), "haproxy-keepalived")
    assert with_lb["haproxy_keepalived"]["run_on"] == "lb-nodes"
    assert [n["name"] for n in with_lb["lb_nodes"]] == ["lb1", "lb2"]
    for other in ("local-nginx", "local-haproxy", "ipvs"):  # they refuse [[lb_nodes]]
        assert "lb_nodes" not in profiles.build_profile(_state(lb=2), other)


def test_the_kubeadm_labs_profiles_repoint_kubeadms_clients(tmp_path):
    """A kubeadm lab's profiles repoint its clients ([clients] repoint = true, kubeadm's own
    kubeconfigs by default: none listed, kubeadm's local ones kept local); the other labs'
    profiles have no [clients] table."""
    state = _state()
    state.control_plane = cp.KUBEADM
    for path in profiles.write_profiles(state, tmp_path):
        data = tomllib.loads(path.read_text())
        assert data["clients"] == {"repoint": True}, path.name
        loaded = profile_from_dict(data).profile
        assert loaded is not None and loaded.clients.targets() == KUBEADM_KUBECONFIGS
        assert not loaded.clients.repoint_local
    for plane in (cp.STAND_IN, cp.REAL):
        state.control_plane = plane
        assert "clients" not in profiles.build_profile(state, "local-haproxy")


def test_known_hosts_is_readable_by_paramiko(tmp_path, monkeypatch):
    monkeypatch.setattr(pki, "KNOWN_HOSTS_FILE", tmp_path / "known_hosts")
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x"
    path = pki.write_known_hosts([("127.0.0.1", 2211, pub)])
    hosts = paramiko.HostKeys(str(path))
    assert "[127.0.0.1]:2211" in hosts
    assert hosts["[127.0.0.1]:2211"]["ssh-ed25519"].get_base64() == pub.split()[1]


def test_apiserver_sans_cover_masters_vips_and_names():
    sans = pki.apiserver_sans("m2", ["10.77.0.11", "10.77.0.12"])
    for entry in (
        "IP:10.77.0.11",
        "IP:10.77.0.12",
        "IP:10.77.0.100",
        "IP:10.103.97.2",
        "IP:127.0.0.1",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:apiserver.cluster.local",
        "DNS:m2",
    ):
        assert entry in sans


def test_missing_host_packages_are_installed_with_apt(monkeypatch):
    from wizard.lab import hostpkgs

    calls = []
    monkeypatch.setattr(
        hostpkgs.shutil, "which", lambda prog, path=None: None if prog == "debootstrap" else "/x"
    )
    monkeypatch.setattr(hostpkgs, "run", lambda argv, **kw: calls.append((argv, kw["env"])))
    hostpkgs.ensure_host_packages(log=lambda _: None)
    assert [argv[:2] for argv, _ in calls] == [["apt-get", "update"], ["apt-get", "install"]]
    assert calls[1][0][-1] == "debootstrap" and "-y" in calls[1][0]
    assert all(env["DEBIAN_FRONTEND"] == "noninteractive" for _, env in calls)


def test_nothing_installed_when_everything_is_there(monkeypatch):
    from wizard.lab import hostpkgs

    monkeypatch.setattr(hostpkgs.shutil, "which", lambda prog, path=None: "/x")
    monkeypatch.setattr(hostpkgs, "run", lambda *a, **k: pytest.fail("apt-get ran"))
    hostpkgs.ensure_host_packages(log=lambda _: None)


def test_cli_prints_the_root_error_without_traceback(monkeypatch, capsys):
    from wizard.cli import main

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["lab", "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubeha: the lab needs root") and "Traceback" not in err


def test_a_stopped_process_counts_until_it_has_left_proc():
    # sh starts a short sleep, then becomes a long sleep that never reaps it: a zombie.
    parent = subprocess.Popen(["sh", "-c", "sleep 0.1 & exec sleep 30"])
    try:
        deadline = time.monotonic() + POLL_S
        while len(process_tree(parent.pid, start_time(parent.pid), "t")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        tree = process_tree(parent.pid, start_time(parent.pid), "the test's sleep")
        child = tree[1]
        time.sleep(0.3)  # the short sleep has exited: a zombie, still in /proc
        assert child.exists() and "zombie" in child.describe()
        assert wait_gone([child], 0.3) == [child]
        with pytest.raises(LabError, match=r"still running .* zombie"):
            require_gone([child], 0.3, "the test")
    finally:
        parent.send_signal(signal.SIGKILL)
    assert wait_gone(tree, 15) == []  # the parent reaped by us, the orphan by init


def test_a_lab_record_from_another_kubeha_version_is_still_read(tmp_path, monkeypatch):
    """A record with a field this kubeha lacks (another branch's lab option) and one without
    the dual-stack keys (an IPv4 lab saved by this kubeha) both read back."""
    import json

    from wizard.lab import state as state_module

    path = tmp_path / "state.json"
    monkeypatch.setattr(state_module, "STATE_FILE", path)
    state_module.save_state(_state())
    data = json.loads(path.read_text())
    assert "ipv6" not in data and "address6" not in data["nodes"][0]
    data["hardened"] = True
    data["nodes"][0]["future"] = 1
    path.write_text(json.dumps(data))
    read = state_module.read_state()
    assert read is not None and read.shape == (3, 2, 0) and not read.ipv6
    state_module.save_state(_state(ipv6=True))
    read = state_module.read_state()
    assert read is not None and read.ipv6 and read.nodes[0].address6 == "fd77::11"


def test_the_kubeadm_lab_has_static_pod_profiles_naming_the_labs_images(tmp_path, lab_keys):
    """A kubeadm lab also writes lab-<strategy>-static-pod.toml for the three strategies whose
    balancer may run as a static pod, each naming the images the lab builds and imports
    (wizard.lab.balancer_images); each validates. The other labs (no kubelet) write none."""
    state = _state()
    state.control_plane = cp.KUBEADM
    written = {p.name: p for p in profiles.write_profiles(state, tmp_path)}
    images = {
        balancer_images.HAPROXY_IMAGE,
        balancer_images.NGINX_IMAGE,
        balancer_images.KEEPALIVED_IMAGE,
    }
    named = set()
    for strategy in ("local-haproxy", "local-nginx", "haproxy-keepalived"):
        data = tomllib.loads(written[f"lab-{strategy}-static-pod.toml"].read_text())
        assert data["name"] == f"lab-{strategy}-static-pod"
        assert data["balancer"]["run_as"] == "static-pod"
        loaded = profile_from_dict(data).profile
        assert loaded is not None and validate(loaded) == [], strategy
        named |= {v for k, v in data["balancer"].items() if k.endswith("image")}
    assert named == images
    state.control_plane = cp.STAND_IN
    assert not [p for p in profiles.write_profiles(state, tmp_path / "x") if "static" in p.name]


def test_the_lab_balancer_images_hold_their_programs_and_libraries(tmp_path):
    """Each image has its program, the libraries ldd lists for it (the rootfs's own), and the
    accounts it drops to; built from this host's / when the lab's rootfs is not cached."""
    root = Path("/")
    for program in ("/usr/sbin/haproxy", "/usr/sbin/nginx", "/usr/sbin/keepalived"):
        if not Path(program).exists():
            pytest.skip(f"no {program} on this machine")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    by_name = {image.name: image for image in balancer_images.images(root, empty)}
    assert set(by_name) == {
        balancer_images.HAPROXY_IMAGE,
        balancer_images.NGINX_IMAGE,
        balancer_images.KEEPALIVED_IMAGE,
    }
    for name, program in (
        (balancer_images.HAPROXY_IMAGE, "/usr/sbin/haproxy"),
        (balancer_images.NGINX_IMAGE, "/usr/sbin/nginx"),
        (balancer_images.KEEPALIVED_IMAGE, "/usr/sbin/keepalived"),
    ):
        files = by_name[name].files
        assert program in files and "/etc/passwd" in files, name
        assert any("/libc.so." in path for path in files), name
    assert balancer_images.NGINX_STREAM_MODULE in by_name[balancer_images.NGINX_IMAGE].files
    assert {"/bin/sh", "/usr/bin/curl"} <= set(by_name[balancer_images.KEEPALIVED_IMAGE].files)


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_the_lab_balancer_images_run_their_program_on_kubehas_configs(tmp_path):
    """Each image's one layer, unpacked as containerd would and entered with chroot, runs its
    program's own check on the config kubeha renders for the static pod (nginx loading the
    image's stream module), and keepalived's image runs its check script's sh and curl."""
    for program in ("/usr/sbin/haproxy", "/usr/sbin/nginx", "/usr/sbin/keepalived"):
        if not Path(program).exists():
            pytest.skip(f"no {program} on this machine")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    archive = tmp_path / "balancers.tar"
    oci.write_archive(balancer_images.images(Path("/"), empty), archive)
    roots = {}
    with tarfile.open(archive) as out:
        index = json.load(out.extractfile("index.json"))
        for entry in index["manifests"]:
            blob = entry["digest"].split(":")[1]
            manifest = json.load(out.extractfile(f"blobs/sha256/{blob}"))
            layer = manifest["layers"][0]["digest"].split(":")[1]
            root = tmp_path / blob[:12]
            with tarfile.open(fileobj=out.extractfile(f"blobs/sha256/{layer}")) as files:
                files.extractall(root, filter="tar")
            roots[entry["annotations"]["io.containerd.image.name"]] = root
    golden = Path(__file__).parents[2] / "golden"
    cases = [
        (
            balancer_images.HAPROXY_IMAGE,
            "local-haproxy-static-pod/master1/etc/kube-haproxy/haproxy.cfg",
            ["/usr/sbin/haproxy", "-c", "-q", "-f", "/etc/kube-haproxy/haproxy.cfg"],
        ),
        (
            balancer_images.NGINX_IMAGE,
            "local-nginx-static-pod/master1/etc/kube-nginx/kube-nginx.conf",
            ["/usr/sbin/nginx", "-t", "-q", "-c", "/etc/kube-nginx/kube-nginx.conf"],
        ),
        (
            balancer_images.KEEPALIVED_IMAGE,
            "haproxy-keepalived-static-pod/master1/etc/keepalived/keepalived.conf",
            ["/usr/sbin/keepalived", "--config-test", "--use-file=/etc/keepalived/keepalived.conf"],
        ),
    ]
    script = golden / "haproxy-keepalived-static-pod/master1/etc/keepalived/check_apiserver.sh"
    for image, config, argv in cases:
        root = roots[image]
        target = root / config.split("/", 2)[2]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((golden / config).read_text())
        if image == balancer_images.KEEPALIVED_IMAGE:
            (target.parent / script.name).write_text(script.read_text())
            (target.parent / script.name).chmod(0o700)
        done = subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True)
        assert done.returncode == 0, (image, done.stdout + done.stderr)
    keepalived = roots[balancer_images.KEEPALIVED_IMAGE]
    for argv in (["/bin/sh", "-c", "true"], ["/usr/bin/curl", "--version"]):
        done = subprocess.run(["chroot", str(keepalived), *argv], capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stderr)
