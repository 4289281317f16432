"""The one-line diff a preview shows for each kubeconfig: ``<current>`` before any node was
read, and from a node's facts the engine's own rule (only a server that names a master moves)."""

from __future__ import annotations

import pytest

from tests.support.examples import example_profile
from wizard.retrofit.client_diff import node_line, old_endpoints, planned_line
from wizard.retrofit.kubeconfig import KubeconfigNow

LB = "https://127.0.0.1:8443"
PATH = "/etc/kubernetes/kubelet.conf"


@pytest.fixture
def old():
    return old_endpoints(example_profile("local-nginx"))


def test_before_a_node_is_read_the_current_server_is_a_placeholder():
    assert planned_line(LB) == f"server: <current> → server: {LB}"


def test_old_endpoints_are_every_master_by_address_and_name(old):
    profile = example_profile("local-nginx")
    master = profile.masters[0]
    assert (master.address, master.apiserver_port) in old
    assert (master.name, master.apiserver_port) in old


@pytest.mark.parametrize(
    ("servers", "present", "expected"),
    [
        (("https://ADDR:6443",), True, f"server: https://ADDR:6443 → server: {LB}"),
        ((LB,), True, f"server: {LB} (already: unchanged)"),
        (("https://elsewhere:6443",), True, "left as is: https://elsewhere:6443 names no master"),
        ((), True, "names no server: left alone"),
        ((), False, "not on this node: left alone"),
    ],
)
def test_a_nodes_facts_give_the_line_the_apply_would_change(old, servers, present, expected):
    address = example_profile("local-nginx").masters[0].address
    servers = tuple(s.replace("ADDR", address) for s in servers)
    now = KubeconfigNow(PATH, "kubelet.service", present, servers)
    assert node_line(now, LB, old) == expected.replace("ADDR", address)


def test_the_facts_line_names_the_file_and_its_server():
    assert KubeconfigNow(PATH, servers=("https://10.0.0.11:6443",)).line == (
        f"{PATH}: server: https://10.0.0.11:6443"
    )
    assert KubeconfigNow(PATH, present=False).line == f"{PATH}: not on this node"
