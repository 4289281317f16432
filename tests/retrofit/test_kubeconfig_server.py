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
    original = "    server: https://10.0.0.11:6443\n"
    current = "    server: https://127.0.0.1:8443\n"
    back = kubeconfig.point_back(
        current, original, "https://apiserver.cluster.local:8443", ("https://127.0.0.1:8443",)
    )
    assert back.text == original
    assert back.diff_line == "server: https://127.0.0.1:8443 -> https://10.0.0.11:6443"
    assert kubeconfig.point_back(
        current, original, "https://apiserver.cluster.local:8443"
    ).text == (current)
