"""The balancer as a static pod (``[balancer] run_as = "static-pod"``): the rendered manifests
parsed as YAML and held to what kubelet needs, the plan (no unit, no package, the cutter's unit
beside nginx's pod), the table's checks, the hidden backups beside a manifest, and the node's
config check by the image's own program (its refusals, run by a real shell)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.examples import example_profile
from wizard.backups import ABSENT, NEW, PREV, beside
from wizard.render import build_plan
from wizard.strategies import static_pod
from wizard.strategies.common import CUTTER_UNIT
from wizard.strategies.local_nginx import Install
from wizard.strategies.static_pod import Balancer
from wizard.validation import validate

HAPROXY_IMAGE = "registry.example:5000/kube/haproxy:2.6"
NGINX_IMAGE = "docker.io/library/nginx:1.27"


def with_balancer(strategy: str, **fields) -> object:
    profile = example_profile(strategy)
    return dataclasses.replace(profile, tables={**profile.tables, "balancer": Balancer(**fields)})


def pod_of(plan, node: str) -> tuple[str, dict]:
    node_plan = plan.for_node(node)
    (path,) = node_plan.static_pods
    rendered = next(f for f in node_plan.files if f.path == path)
    return path, yaml.safe_load(rendered.content)


@pytest.mark.parametrize(
    ("strategy", "image", "container", "config"),
    [
        ("local-haproxy", HAPROXY_IMAGE, "haproxy", "/etc/kube-haproxy/haproxy.cfg"),
        ("local-nginx", NGINX_IMAGE, "nginx", "/etc/kube-nginx/kube-nginx.conf"),
    ],
)
def test_manifest_is_a_static_pod_kubelet_runs(strategy, image, container, config):
    profile = with_balancer(strategy, run_as="static-pod", image=image)
    assert validate(profile) == []
    plan = build_plan(profile)
    for node in plan.nodes:
        path, pod = pod_of(plan, node.node)
        assert path == f"/etc/kubernetes/manifests/kubeha-{container}.yaml"
        assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
        assert pod["metadata"]["namespace"] == "kube-system"
        spec = pod["spec"]
        assert spec["hostNetwork"] is True
        assert spec["priorityClassName"] == "system-node-critical"
        (c,) = spec["containers"]
        assert (c["name"], c["image"], c["imagePullPolicy"]) == (container, image, "IfNotPresent")
        assert config in c["command"]
        probe = c["livenessProbe"]["tcpSocket"]
        assert (probe["host"], probe["port"]) == ("127.0.0.1", 8443)
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert mounts["config"] == {"name": "config", "mountPath": config, "readOnly": True}
        assert volumes["config"]["hostPath"] == {"path": config, "type": "File"}
        # the config kubeha writes is a node file of the plan, beside the manifest
        assert config in {f.path for f in node.files}


KEEPALIVED_IMAGE = "registry.example/kube/keepalived:2.2.7"


def test_haproxy_keepalived_runs_two_static_pods_on_each_carrier():
    """The kubeadm HA guide's shape: haproxy and keepalived, each its own static pod; keepalived
    with the capabilities VRRP and the VIP need; the follower stays a unit on every node."""
    profile = with_balancer(
        "haproxy-keepalived",
        run_as="static-pod",
        image=HAPROXY_IMAGE,
        keepalived_image=KEEPALIVED_IMAGE,
    )
    assert validate(profile) == []
    plan = build_plan(profile)
    for node in plan.nodes:
        if node.role != "master":
            assert node.static_pods == () and node.services == ("kubeha-vip-follower.service",)
            continue
        assert node.services == (CUTTER_UNIT, "kubeha-vip-follower.service")
        pods = {
            f.path.rsplit("/", 1)[1]: yaml.safe_load(f.content)
            for f in node.files
            if f.path in node.static_pods
        }
        assert set(pods) == {"kubeha-haproxy.yaml", "kubeha-keepalived.yaml"}
        for pod in pods.values():
            assert pod["spec"]["hostNetwork"] is True
            assert pod["spec"]["priorityClassName"] == "system-node-critical"
            assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
        (haproxy,) = pods["kubeha-haproxy.yaml"]["spec"]["containers"]
        (keepalived,) = pods["kubeha-keepalived.yaml"]["spec"]["containers"]
        assert haproxy["image"] == HAPROXY_IMAGE and keepalived["image"] == KEEPALIVED_IMAGE
        assert haproxy["livenessProbe"]["tcpSocket"]["port"] == 8443
        caps = keepalived["securityContext"]["capabilities"]["add"]
        assert sorted(caps) == ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]
        mounted = {m["mountPath"] for m in keepalived["volumeMounts"]}
        assert mounted == {"/etc/keepalived/keepalived.conf", "/etc/keepalived/check_apiserver.sh"}
    problems = validate(
        with_balancer("haproxy-keepalived", run_as="static-pod", image=HAPROXY_IMAGE)
    )
    assert [p.field for p in problems if p.is_error] == ["balancer.keepalived_image"]


def test_a_config_change_is_a_manifest_change():
    """kubelet restarts a static pod only when its manifest changes: the config's sha256 is in it."""
    profile = with_balancer("local-haproxy", run_as="static-pod", image=HAPROXY_IMAGE)
    _, before = pod_of(build_plan(profile), "master1")
    hc = dataclasses.replace(profile.health_check, fall=5)
    _, after = pod_of(build_plan(dataclasses.replace(profile, health_check=hc)), "master1")
    key = "kubeha.io/config-sha256"
    assert before["metadata"]["annotations"][key] != after["metadata"]["annotations"][key]


def test_static_pod_plan_has_no_balancer_unit_and_no_package():
    """The session cutter stays a systemd unit beside either pod; the balancers' own units are
    gone, and so is every package."""
    haproxy = build_plan(with_balancer("local-haproxy", run_as="static-pod", image=HAPROXY_IMAGE))
    node = haproxy.for_node("worker1")
    units = {f.path for f in node.files if f.path.startswith("/etc/systemd/system/")}
    assert units == {f"/etc/systemd/system/{CUTTER_UNIT}"}
    assert node.services == (CUTTER_UNIT,) and node.packages == ()
    assert not node.shares_port and node.drain_signals == ()
    assert all(f.service in (None, CUTTER_UNIT) for f in node.files)
    nginx = build_plan(with_balancer("local-nginx", run_as="static-pod", image=NGINX_IMAGE))
    node = nginx.for_node("worker1")
    assert node.services == (CUTTER_UNIT,) and node.packages == ()
    assert "/etc/systemd/system/kube-nginx.service" not in {f.path for f in node.files}


def test_systemd_stays_the_default():
    for strategy in ("local-haproxy", "local-nginx"):
        plan = build_plan(example_profile(strategy))
        assert all(n.static_pods == () for n in plan.nodes)
        assert build_plan(with_balancer(strategy)) == plan


def test_manifests_dir_is_the_profiles():
    profile = with_balancer(
        "local-haproxy", run_as="static-pod", image=HAPROXY_IMAGE, manifests_dir="/srv/pods//"
    )
    path, _ = pod_of(build_plan(profile), "master1")
    assert path == "/srv/pods/kubeha-haproxy.yaml"


@pytest.mark.parametrize(
    ("strategy", "fields", "field", "expected"),
    [
        ("local-haproxy", {"run_as": "docker"}, "balancer.run_as", "expected one of"),
        ("local-haproxy", {"run_as": "static-pod"}, "balancer.image", "needs an image"),
        (
            "local-haproxy",
            {"run_as": "static-pod", "image": "Haproxy:2.8"},
            "balancer.image",
            "image reference",
        ),
        (
            "local-nginx",
            {"run_as": "static-pod", "image": "nginx:1.27 --privileged"},
            "balancer.image",
            "image reference",
        ),
        (
            "local-haproxy",
            {"run_as": "static-pod", "image": HAPROXY_IMAGE, "manifests_dir": "manifests"},
            "balancer.manifests_dir",
            "absolute path",
        ),
        (
            "local-haproxy",
            {"run_as": "static-pod", "image": HAPROXY_IMAGE, "manifests_dir": "/etc/../"},
            "balancer.manifests_dir",
            "absolute path",
        ),
        (
            "local-nginx",
            {"run_as": "static-pod", "image": NGINX_IMAGE, "stream_module": "stream.so"},
            "balancer.stream_module",
            "absolute path",
        ),
    ],
)
def test_bad_values_name_field_value_and_expectation(strategy, fields, field, expected):
    problems = [p for p in validate(with_balancer(strategy, **fields)) if p.is_error]
    found = [p for p in problems if p.field == field]
    assert found, problems
    assert expected in found[0].expected
    assert found[0].value == fields.get(field.split(".")[1], "")


def test_nginx_static_pod_needs_the_package_layout():
    profile = with_balancer("local-nginx", run_as="static-pod", image=NGINX_IMAGE)
    install = Install(method="binary", binary_path="/bin/sh")
    profile = dataclasses.replace(profile, tables={**profile.tables, "install": install})
    problems = [p for p in validate(profile) if p.field == "balancer.run_as"]
    assert problems and "install.method 'binary'" in problems[0].expected


def test_image_shapes():
    good = [
        "haproxy",
        "haproxy:2.8",
        "docker.io/library/haproxy:2.8.5-alpine",
        "localhost:5000/a/b_c/d-e:v1",
        "k8s.gcr.io/pause:3.4@sha256:" + "a" * 64,
    ]
    bad = ["", "HAProxy", "haproxy:", ":2.8", "a//b", "haproxy:2.8;rm", "-it", "haproxy@md5:00"]
    for image in good:
        assert static_pod.IMAGE_RE.fullmatch(image), image
    for image in bad:
        assert not static_pod.IMAGE_RE.fullmatch(image), image


def test_backups_beside_a_manifest_are_hidden_from_kubelet():
    """kubelet runs every file of its folder whose name does not start with a dot."""
    manifest = "/etc/kubernetes/manifests/kubeha-haproxy.yaml"
    for suffix in (NEW, PREV, ABSENT):
        name = beside(manifest, suffix).rsplit("/", 1)[1]
        assert name.startswith(".kubeha-haproxy.yaml")
    assert beside("/etc/kube-haproxy/haproxy.cfg", PREV) == "/etc/kube-haproxy/haproxy.cfg" + PREV
    assert beside("/etc/kubernetes/manifests/etcd.yaml", PREV).endswith("/etcd.yaml" + PREV)


# A stand-in for containerd's ctr: logs its arguments, lists ``answer`` as the node's image.
FAKE_CTR = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
[ "$3" = images ] && [ -n "{answer}" ] && echo "{answer}"
exit 0
"""


def run_check(tmp_path: Path, ctr: str | None) -> subprocess.CompletedProcess[str]:
    """The node's check of a staged config, by a real shell with a stand-in ``ctr``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "grep"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    if ctr is not None:
        (bin_dir / "ctr").write_text(ctr)
        (bin_dir / "ctr").chmod(0o755)
    staged = tmp_path / "haproxy.cfg.kubeha-new"
    staged.write_text("global\n")
    argv = static_pod.image_check(HAPROXY_IMAGE, "/etc/kube-haproxy/haproxy.cfg", ("haproxy",))
    argv = tuple(a.replace("{file}", str(staged)) for a in argv)
    return subprocess.run(
        [str(bin_dir / "sh"), *argv[1:]],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_dir)},
        timeout=30,
    )


def test_check_refuses_without_ctr(tmp_path):
    result = run_check(tmp_path, None)
    assert result.returncode == 1 and "no ctr on the node" in result.stderr


def test_check_refuses_an_image_not_on_the_node_and_never_pulls(tmp_path):
    log = tmp_path / "ctr.log"
    result = run_check(tmp_path, FAKE_CTR.format(log=log, answer=""))
    assert result.returncode == 1
    assert f"image {HAPROXY_IMAGE} is not on the node" in result.stderr
    assert "kubeha never pulls it" in result.stderr
    assert "pull" not in log.read_text().split()  # asked only which images are there


def test_check_runs_the_images_program_on_the_staged_file(tmp_path):
    log = tmp_path / "ctr.log"
    ctr = FAKE_CTR.format(log=log, answer=HAPROXY_IMAGE)
    result = run_check(tmp_path, ctr)
    assert result.returncode == 0, result.stderr
    ran = log.read_text().splitlines()[-1]
    assert ran.startswith("-n k8s.io run --rm --net-host --mount type=bind,src=")
    assert "haproxy.cfg.kubeha-new,dst=/etc/kube-haproxy/haproxy.cfg,options=rbind:ro" in ran
    assert ran.endswith(f"{HAPROXY_IMAGE} kubeha-check-{ran.split('kubeha-check-')[1]}")
