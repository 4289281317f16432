"""A kubeconfig's server lines: found, and changed without touching any other byte."""

from __future__ import annotations

import base64

from wizard.retrofit import kubeconfig

KUBEADM_KUBELET_CONF = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://10.77.0.11:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node:m1
  name: system:node:m1@kubernetes
current-context: system:node:m1@kubernetes
kind: Config
preferences: {{}}
users:
- name: system:node:m1
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
"""

OLD = {("10.77.0.11", 6443), ("10.77.0.12", 6443)}


def conf(ca: bytes = b"-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n") -> str:
    return KUBEADM_KUBELET_CONF.format(ca=base64.b64encode(ca).decode())


def test_only_the_server_line_changes():
    text = conf()
    result = kubeconfig.repoint(text, "https://127.0.0.1:8443", OLD)
    assert result.changed == ("https://10.77.0.11:6443",)
    old_lines, new_lines = text.splitlines(keepends=True), result.text.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    differing = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert differing == [
        ("    server: https://10.77.0.11:6443\n", "    server: https://127.0.0.1:8443\n")
    ]
    assert result.diff_line == "server: https://10.77.0.11:6443 -> https://127.0.0.1:8443"


def test_crlf_quotes_and_comments_are_kept():
    text = 'clusters:\r\n- cluster:\r\n    server: "https://10.77.0.12:6443"  # m2\r\n'
    result = kubeconfig.repoint(text, "https://10.77.0.100:8443", OLD)
    assert (
        result.text == 'clusters:\r\n- cluster:\r\n    server: "https://10.77.0.100:8443"  # m2\r\n'
    )


def test_other_clusters_and_the_new_server_are_left_alone():
    text = (
        "clusters:\n- cluster:\n    server: https://prod.example.org:6443\n  name: other\n"
        "- cluster:\n    server: https://127.0.0.1:8443\n  name: kubernetes\n"
    )
    result = kubeconfig.repoint(text, "https://127.0.0.1:8443", OLD)
    assert result.text == text
    assert result.changed == ()
    assert result.kept == ("https://prod.example.org:6443",)


def test_reapply_changes_nothing():
    once = kubeconfig.repoint(conf(), "https://127.0.0.1:8443", OLD).text
    twice = kubeconfig.repoint(once, "https://127.0.0.1:8443", OLD)
    assert twice.text == once and twice.changed == () and twice.diff_line == "unchanged"


def test_back_to_the_first_master_for_uninstall():
    moved = kubeconfig.repoint(conf(), "https://127.0.0.1:8443", OLD).text
    back = kubeconfig.repoint(moved, "https://10.77.0.11:6443", {("127.0.0.1", 8443)})
    assert back.text == conf()


def test_servers_and_ca():
    ca = b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"
    text = conf(ca)
    assert kubeconfig.servers(text) == ("https://10.77.0.11:6443",)
    assert kubeconfig.ca_data(text) == ca
    assert kubeconfig.ca_file(text) is None
    assert kubeconfig.ca_file("    certificate-authority: /etc/kubernetes/pki/ca.crt\n") == (
        "/etc/kubernetes/pki/ca.crt"
    )


def test_endpoint_parsing():
    assert kubeconfig.endpoint("https://[fd00::1]:6443") == ("fd00::1", 6443)
    assert kubeconfig.endpoint("https://Apiserver.Cluster.Local") == (
        "apiserver.cluster.local",
        443,
    )
    assert kubeconfig.endpoint("http://10.0.0.1:8080") is None
    assert kubeconfig.endpoint("https://10.0.0.1:99999") is None


def test_point_back_also_takes_a_former_load_balancer_server():
    original = "clusters:\n- cluster:\n    server: https://10.0.0.11:6443\n  name: kubernetes\n"
    current = original.replace("https://10.0.0.11:6443", "https://127.0.0.1:8443")
    back = kubeconfig.point_back(
        current, original, "https://apiserver.cluster.local:8443", ("https://127.0.0.1:8443",)
    )
    assert back.text == original
    assert back.diff_line == "server: https://127.0.0.1:8443 -> https://10.0.0.11:6443"
    assert kubeconfig.point_back(
        current, original, "https://apiserver.cluster.local:8443"
    ).text == (current)


# --- issue 26: clusters by name -------------------------------------------------------------

LB = "https://apiserver.cluster.local:8443"
ADDED = "- cluster:\n    server: https://other.example.org:6443\n  name: added\n"


def ahead(text: str) -> str:
    """``text`` with a cluster of another kind added ahead of kubeha's."""
    return text.replace("clusters:\n", "clusters:\n" + ADDED, 1)


def test_point_back_matches_the_cluster_by_name_when_one_was_added_ahead():
    moved = kubeconfig.repoint(conf(), LB, OLD)
    assert moved.clusters == ("kubernetes",)
    back = kubeconfig.point_back(ahead(moved.text), conf(), LB, (), moved.clusters)
    assert back.stuck == () and back.text == ahead(conf())
    assert back.clusters == ("kubernetes",) and back.new_server == "https://10.77.0.11:6443"


def test_point_back_of_a_renamed_cluster_is_stuck_and_changes_nothing():
    moved = kubeconfig.repoint(conf(), LB, OLD).text.replace("name: kubernetes\n", "name: k8s\n")
    back = kubeconfig.point_back(moved, conf(), LB, (), ("kubernetes",))
    assert back.text == moved and back.changed == ()
    assert back.stuck and "'k8s'" in back.stuck[0] and "renamed" in back.stuck[0]


def test_a_cluster_kubeha_did_not_repoint_is_not_given_a_server_back():
    """The operator pointed another cluster at the load balancer by hand: it is not kubeha's
    to point back (it was prod's before), and the load balancer must stay for it."""
    original = ahead(conf())
    moved = kubeconfig.repoint(original, LB, OLD)
    current = moved.text.replace("https://other.example.org:6443", LB)
    back = kubeconfig.point_back(current, original, LB, (), moved.clusters)
    assert back.stuck == ("cluster 'added' was not repointed by kubeha",)
    assert f"server: {LB}" in back.text  # kept: the engine then writes nothing at all


def test_without_a_record_the_clusters_that_named_a_master_are_pointed_back():
    original = ahead(conf())
    current = kubeconfig.repoint(original, LB, OLD).text
    back = kubeconfig.point_back(current, original, LB, (), None, OLD)
    assert back.stuck == () and back.text == original
    by_hand = current.replace("https://other.example.org:6443", LB)
    assert kubeconfig.point_back(by_hand, original, LB, (), None, OLD).stuck


NAME_FIRST = """apiVersion: v1\r
clusters:\r
- name: "other"\r
  cluster:\r
    certificate-authority-data: T1RIRVI=\r
    server: https://other.example.org:6443\r
    extensions:\r
    - extension:\r
        provider: minikube\r
      name: cluster_info\r
- name: kubernetes  # kubeadm's\r
  cluster:\r
    certificate-authority-data: S1VCRQ==\r
    server: 'https://10.77.0.12:6443'\r
contexts:\r
- context:\r
    cluster: other\r
  name: other\r
- name: admin@kubernetes\r
  context:\r
    cluster: kubernetes\r
    user: admin\r
current-context: admin@kubernetes\r
"""


def test_clusters_are_read_by_name_in_either_key_order():
    entries = kubeconfig.clusters(NAME_FIRST)
    assert [(e.name, e.server, e.ca_data) for e in entries] == [
        ("other", "https://other.example.org:6443", "T1RIRVI="),
        ("kubernetes", "https://10.77.0.12:6443", "S1VCRQ=="),
    ]
    assert kubeconfig.current_cluster(NAME_FIRST) == "kubernetes"
    lines = NAME_FIRST.splitlines(keepends=True)
    assert "10.77.0.12" in lines[entries[1].server_line or 0]


def test_the_ca_is_the_repointed_clusters_not_the_first_one():
    def master(server):
        return kubeconfig.endpoint(server) in OLD

    assert kubeconfig.ca_data(NAME_FIRST, master) == b"KUBE"
    assert kubeconfig.ca_data(NAME_FIRST, lambda s: False) == b"KUBE"  # the current context's
    assert kubeconfig.ca_data(NAME_FIRST) == b"OTHER"  # without a rule: the first, as before
