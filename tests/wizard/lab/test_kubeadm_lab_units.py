"""The kubeadm lab's pieces that need no lab: the second build step's cache entry, the OCI
archives ctr imports, the node layer's files and kubeadm's init config."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from wizard.lab import kube_build, kubeadm_lab, oci


def test_the_kubeadm_step_is_a_second_cache_entry_that_leaves_the_first_alone(
    tmp_path: Path, monkeypatch
):
    key = kube_build.cache_key({"a.dsc": "1"}, "go1.19.8")
    assert kube_build.node_key(key) != key
    assert kube_build.node_path(key).name.startswith("kubeadm-")
    # The main build's clean-up removes kube-<other key> folders: never the kubeadm step's.
    monkeypatch.setattr(kube_build, "CACHE_DIR", tmp_path)
    (tmp_path / f"kubeadm-{kube_build.node_key(key)}").mkdir()
    (tmp_path / "kube-000000000000").mkdir()
    monkeypatch.setattr("wizard.lab.state.read_state", lambda: None)
    kube_build._remove_stale_builds(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"kubeadm-{kube_build.node_key(key)}"]


def test_the_kubeadm_step_counts_only_with_its_stamp_kubelet_kubeadm_and_pause(tmp_path: Path):
    key = "abc"
    build = tmp_path / "b"
    (build / "bin").mkdir(parents=True)
    for name in ("kubelet", "kubeadm"):
        (build / "bin" / name).write_text("")
        (build / "bin" / name).chmod(0o755)
    (build / kube_build.STAMP).write_text(kube_build.node_key(key) + "\n")
    assert not kube_build._node_complete(build, key)  # no pause
    (build / "bin/pause").write_text("")
    (build / "bin/pause").chmod(0o755)
    assert kube_build._node_complete(build, key)
    assert not kube_build._node_complete(build, "abd")


def test_an_oci_archive_names_each_image_for_ctr_and_shares_blobs(tmp_path: Path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF pause")
    binary.chmod(0o755)
    images = [
        oci.Image("k8s.gcr.io/pause:3.4", {"/pause": binary}, entrypoint=("/pause",)),
        oci.Image("k8s.gcr.io/other:v1", {"/pause": binary}, {"/bin/p": "../pause"}),
    ]
    archive = tmp_path / "images.tar"
    oci.write_archive(images, archive)
    oci.write_archive(images, tmp_path / "again.tar")
    assert archive.read_bytes() == (tmp_path / "again.tar").read_bytes()  # reproducible
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
        names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
        assert names == ["k8s.gcr.io/pause:3.4", "k8s.gcr.io/other:v1"]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{index['manifests'][0]['digest'][7:]}"))
        layer = tar.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}")
        with tarfile.open(fileobj=layer) as inner:
            pause = inner.getmember("pause")
            assert (pause.uid, pause.mode) == (0, 0o755)
        config = json.load(tar.extractfile(f"blobs/sha256/{manifest['config']['digest'][7:]}"))
        assert config["config"]["Entrypoint"] == ["/pause"]
        assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]


def test_init_config_is_kubeadm_1_20s_with_the_first_master_as_endpoint():
    text = kubeadm_lab.init_config("m1", "10.77.0.11", "10.77.0.11", "abcdef.0123456789abcdef", "k")
    assert "apiVersion: kubeadm.k8s.io/v1beta2" in text
    assert 'controlPlaneEndpoint: "10.77.0.11:6443"' in text
    assert "cgroupDriver: cgroupfs" in text and "failSwapOn: false" in text
    assert f"serviceSubnet: {kubeadm_lab.SERVICE_SUBNET}" in text
    assert '"10.77.0.100"' in text  # the haproxy VIP is in the apiservers' certificates
    # kubeha's IPVS VIP must stay outside the Service range (kubeadm's 10.96.0.0/12 holds it).
    import ipaddress

    assert ipaddress.ip_address("10.103.97.2") not in ipaddress.ip_network(
        kubeadm_lab.SERVICE_SUBNET
    )


def test_each_node_gets_its_own_pod_subnet():
    assert kubeadm_lab.pod_subnet("10.77.0.11") == "10.244.11.0/24"
    conf = json.loads(kubeadm_lab.cni_config("10.77.0.21"))
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.21.0/24"}]]


def test_only_named_preflight_checks_are_ignored():
    assert "all" not in {c.lower() for c in kubeadm_lab.IGNORED_PREFLIGHT}
    assert set(kubeadm_lab.IGNORED_PREFLIGHT) <= {
        "FileExisting-crictl",
        "ImagePull",
        "SystemVerification",
    }
