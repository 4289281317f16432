"""What repointing makes of kubeadm's objects (wizard.retrofit.api_objects): the kubeconfig
keys edited like the node's kubeconfigs, kubeadm-config's controlPlaneEndpoint by a one-line
edit that keeps every other byte, the bootstrap signer's JWS check, and a message naming the
object and the field for what kubeha cannot read."""

from __future__ import annotations

import pytest

from wizard.retrofit import api_objects as a

OLD = {("10.0.0.11", 6443), ("10.0.0.12", 6443)}
LB = "https://api.lb.test:8443"
CONFIG = """apiServer:
  certSANs:
  - api.lb.test   # the LB
apiVersion: kubeadm.k8s.io/v1beta3
clusterName: kubernetes
controlPlaneEndpoint: 10.0.0.11:6443  # m1 for now
controllerManager: {}
kind: ClusterConfiguration
networking:
  serviceSubnet: 10.96.0.0/12
"""


def cm(key: str, text: str) -> dict[str, object]:
    return {"metadata": {"resourceVersion": "7"}, "data": {key: text}}


def test_control_plane_endpoint_is_a_one_line_edit():
    made = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", CONFIG), LB, OLD)
    assert made is not None and made.changed
    assert made.after == CONFIG.replace("10.0.0.11:6443  #", "api.lb.test:8443  #")
    assert made.line == "controlPlaneEndpoint: 10.0.0.11:6443 -> api.lb.test:8443"
    assert "-controlPlaneEndpoint: 10.0.0.11:6443" in made.diff()


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ('controlPlaneEndpoint: "10.0.0.12:6443"\n', 'controlPlaneEndpoint: "api.lb.test:8443"\n'),
        ("controlPlaneEndpoint: '10.0.0.12'\r\n", "controlPlaneEndpoint: 'api.lb.test:8443'\r\n"),
        ('controlPlaneEndpoint: ""\n', 'controlPlaneEndpoint: "api.lb.test:8443"\n'),
    ],
)
def test_quotes_and_line_ends_are_kept(line, want):
    text = f"kind: ClusterConfiguration\n{line}scheduler: {{}}\n"
    made = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", text), LB, OLD)
    assert made is not None and made.after == text.replace(line, want)


def test_an_ipv6_endpoint_is_quoted():
    text = "kind: ClusterConfiguration\ncontrolPlaneEndpoint: 10.0.0.11:6443\n"
    made = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", text), "https://[fd00::5]:8443", OLD)
    assert made is not None
    assert made.after == 'kind: ClusterConfiguration\ncontrolPlaneEndpoint: "[fd00::5]:8443"\n'


def test_an_absent_endpoint_is_added_where_kubeadm_sorts_it():
    text = CONFIG.replace("controlPlaneEndpoint: 10.0.0.11:6443  # m1 for now\n", "")
    made = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", text), LB, OLD)
    assert made is not None
    assert made.after == CONFIG.replace("10.0.0.11:6443  # m1 for now", "api.lb.test:8443")


def test_an_endpoint_of_no_master_is_left_and_a_repeat_changes_nothing():
    other = CONFIG.replace("10.0.0.11:6443", "vip.elsewhere:6443")
    made = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", other), LB, OLD)
    assert made is not None and not made.changed and "names no master" in made.line
    done = CONFIG.replace("10.0.0.11:6443", "api.lb.test:8443")
    again = a.edit(a.KUBEADM_CONFIG, cm("ClusterConfiguration", done), LB, OLD)
    assert again is not None and not again.changed and again.diff() == ""


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        (cm("ClusterConfiguration", "kind: InitConfiguration\n"), "not a ClusterConfiguration"),
        (
            cm("ClusterConfiguration", CONFIG + "controlPlaneEndpoint: 10.0.0.12:6443\n"),
            "2 top-level `controlPlaneEndpoint:` lines",
        ),
        ({"data": {"ClusterConfiguration": ["a"]}}, "a list, expected a string"),
        ({"data": "text"}, "inside a str, expected a map"),
    ],
)
def test_what_kubeha_cannot_read_is_named(obj, words):
    with pytest.raises(a.Unparsable) as caught:
        a.edit(a.KUBEADM_CONFIG, obj, LB, OLD)
    message = str(caught.value)
    assert message.startswith("ConfigMap kube-system/kubeadm-config: data.ClusterConfiguration")
    assert words in message and "left as it is" in message


def test_a_kubeconfig_key_without_a_server_is_named():
    with pytest.raises(a.Unparsable, match=r"ConfigMap kube-system/kube-proxy: data.kubeconfig"):
        a.edit(a.KUBE_PROXY, cm("kubeconfig.conf", "apiVersion: v1\nkind: Config\n"), LB, OLD)


def test_an_object_without_the_field_has_no_edit():
    assert a.edit(a.CLUSTER_INFO, {"data": {}}, LB, OLD) is None


def test_cluster_info_is_repointed_and_keeps_its_other_bytes():
    text = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n"
        '    server: https://10.0.0.11:6443\n  name: ""\nkind: Config\n'
    )
    made = a.edit(a.CLUSTER_INFO, cm("kubeconfig", text), LB, OLD)
    assert made is not None
    assert made.after == text.replace("https://10.0.0.11:6443", LB)


def test_the_jws_check_accepts_the_signers_form_and_nothing_else():
    content = "apiVersion: v1\nkind: Config\n"
    signature = a.detached_jws(content, "abcdef", "0123456789abcdef")
    assert a.jws_valid(signature, content, "abcdef", "0123456789abcdef")
    assert not a.jws_valid(signature, content + " ", "abcdef", "0123456789abcdef")
    assert not a.jws_valid(signature, content, "abcdef", "0123456789abcdee")
    assert not a.jws_valid(signature, content, "zzzzzz", "0123456789abcdef")  # kid differs
    header, _, sig = signature.split(".")
    assert not a.jws_valid(f"{header}.e30.{sig}", content, "abcdef", "0123456789abcdef")
    assert not a.jws_valid("garbage", content, "abcdef", "0123456789abcdef")
    data = {"kubeconfig": content, "jws-kubeconfig-abcdef": signature, "jws-kubeconfig-gone00": "x"}
    assert a.unsigned(data, {"abcdef": "0123456789abcdef", "gone00": None}) == []
    assert a.unsigned({**data, "kubeconfig": "changed"}, {"abcdef": "0123456789abcdef"}) == [
        "abcdef"
    ]
