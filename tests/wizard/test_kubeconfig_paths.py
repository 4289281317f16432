"""Issue 26: a kubeconfig kubeha repoints must be one file of the operator's on the nodes: not
'/', a folder, a relative path, a file kubeha writes itself or one of its backups (refused by
the validator); and on the node, a listed path that turns out to be a folder or anything but a
regular file stops the node before anything changes."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.examples import example_profile
from tests.support.render_cases import cases
from wizard.profile import ClientKubeconfig, Clients
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.validation import validate


def path_problems(path: str, strategy: str = "local-nginx"):
    profile = dataclasses.replace(
        example_profile(strategy),
        clients=Clients(repoint=True, kubeconfigs=(ClientKubeconfig(path),)),
    )
    return [p for p in validate(profile) if p.field == "clients.kubeconfigs[0].path"]


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/", "root folder"),
        ("//", "root folder"),
        ("/etc/kubernetes/", "ends in '/'"),
        ("/etc/kubernetes/.", "ends in '/'"),
        ("kubelet.conf", "relative"),
        ("etc/kubernetes/kubelet.conf", "relative"),
        ("/etc/hosts", "kubeha writes itself"),
        ("/etc/kube-nginx/kube-nginx.conf", "kubeha writes itself"),
        ("/etc/kube-haproxy/haproxy.cfg", "kubeha writes itself"),
        ("/etc/haproxy/haproxy.cfg", "kubeha writes itself"),
        ("/etc/keepalived/keepalived.conf", "kubeha writes itself"),
        ("/etc/systemd/system/kube-nginx.service", "kubeha writes itself"),
        ("/opt/kube-nginx/conf/kube-nginx.conf", "kubeha writes itself"),
        ("/etc//sysctl.d/90-kubeha-ipvs.conf", "kubeha writes itself"),
        ("/var/lib/kubeha/installed.json", "kubeha's own folder"),
        ("/var/lib/kubeha/units/kubelet.service", "kubeha's own folder"),
        ("/run/kubeha/clients-ca.pem", "kubeha's own folder"),
        ("/etc/kubernetes/kubelet.conf.kubeha-orig", "backup"),
        ("/etc/kubernetes/kubelet.conf.kubeha-prev", "backup"),
        ("/etc/kubernetes/kubelet.conf.kubeha-new", "backup"),
        ("/etc/kubernetes/kubelet.conf.kubeha-absent", "backup"),
    ],
)
def test_paths_that_are_not_a_kubeconfig_of_the_operator_are_refused(path, hint):
    found = path_problems(path)
    assert found and found[0].is_error and found[0].value == path, found
    assert hint in found[0].expected and "/etc/kubernetes/kubelet.conf" in found[0].expected


def test_kubeha_files_are_refused_whichever_strategy_writes_them():
    """local-haproxy's config under strategy ipvs: the profile may switch to it later."""
    found = path_problems("/etc/kube-haproxy/haproxy.cfg", "ipvs")
    assert found and "local-haproxy" in found[0].expected


@pytest.mark.parametrize(
    "path", ["/etc/kubernetes/kubelet.conf", "/root/.kube/config", "/etc/kubernetes/admin.conf"]
)
def test_a_kubeconfig_of_the_operator_is_taken(path):
    assert path_problems(path) == []


@pytest.mark.parametrize("name", list(cases()))
def test_every_file_a_plan_writes_is_one_its_strategy_names(name):
    """``Strategy.node_files`` is what the validator refuses: it must hold every path the
    strategy's plan writes on a node (a new file that is not listed fails here)."""
    profile = cases()[name]
    strategy = registry.get(profile.strategy)
    named = set(strategy.node_files(profile))
    plan = build_plan(profile)
    written = {f.path for node in plan.nodes for f in node.files}
    assert written <= named, written - named


def test_a_source_build_plan_names_its_binary_too():
    from wizard.strategies.local_nginx.nginx_build.phase import binary_file

    profile = cases()["local-nginx-source"]
    assert binary_file(profile, b"").path in registry.get("local-nginx").node_files(profile)


# --- on the node ----------------------------------------------------------------------------


def test_file_kind_with_the_real_shell(tmp_path):
    import os

    from tests.wizard.engine.test_locks import LocalShell
    from wizard.engine.remote import REGULAR, RemoteNode

    node = RemoteNode(LocalShell())  # type: ignore[arg-type]
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    kinds = {
        name: node.file_kind(str(tmp_path / name))
        for name in ("folder", "file", "fifo", "dangling", "link", "absent")
    }
    assert kinds == {
        "folder": "a folder",
        "file": REGULAR,
        "fifo": "a fifo, not a regular file",
        "dangling": "a symbolic link to nothing",
        "link": REGULAR,
        "absent": None,
    }
