"""What Kubernetes deprecated or removed is said where kubeha offers it: kube-proxy's ipvs mode
(deprecated in Kubernetes 1.35, KEP-5495) in the ipvs strategy's kube-proxy snippet, and the
kubeadm v1beta3 API (removed in kubeadm 1.36, kubernetes/kubernetes#136016) in the kubeadm
snippet written in it and in the choice the form and the validator offer."""

from __future__ import annotations

import dataclasses

from tests.support.examples import example_profile
from wizard import kubeadm_api
from wizard.profile import Cluster
from wizard.render import build_plan


def snippet(plan, name: str) -> str:
    return next(s.content for s in plan.snippets if s.path == name)


def test_the_kube_proxy_snippet_says_ipvs_mode_is_deprecated():
    text = snippet(build_plan(example_profile("ipvs")), "kube-proxy-config.yaml")
    assert "mode: ipvs" in text
    assert "Kubernetes 1.35 deprecated kube-proxy's ipvs mode" in text
    assert "nftables is the recommended mode" in text


def test_v1beta3_is_offered_and_rendered_as_removed_in_kubeadm_1_36():
    assert kubeadm_api.get("v1beta3").kubeadm.endswith("removed in kubeadm 1.36)")
    profile = dataclasses.replace(example_profile("local-nginx"), cluster=Cluster("v1beta3"))
    text = snippet(build_plan(profile), "kubeadm-config.yaml")
    assert "apiVersion: kubeadm.k8s.io/v1beta3" in text
    assert (
        "# API v1beta3: kubeadm 1.22 to 1.35 (deprecated in 1.31, removed in kubeadm 1.36)" in text
    )
    v1beta4 = snippet(build_plan(example_profile("local-nginx")), "kubeadm-config.yaml")
    assert "removed" not in v1beta4
