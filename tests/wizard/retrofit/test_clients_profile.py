"""The profile's [clients] section: absent means no repointing (every existing profile unchanged),
kubeadm's kubeconfigs by default, an exact round trip, and every bad value named."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.examples import EXAMPLES, example_profile
from wizard.problems import errors_in
from wizard.profile import KUBEADM_KUBECONFIGS, ClientKubeconfig, Clients
from wizard.profile_io import dump_profile, parse_profile_text
from wizard.validation import validate

MINIMAL = """
schema_version = 1
name = "p"
strategy = "local-nginx"
[[masters]]
name = "m1"
address = "10.0.0.11"
"""


@pytest.mark.parametrize("strategy", EXAMPLES)
def test_absent_section_means_no_repointing_and_is_not_written(strategy):
    profile = example_profile(strategy)
    assert profile.clients == Clients() and profile.clients.targets() == ()
    assert "clients" not in dump_profile(profile)


def test_repoint_without_a_list_takes_kubeadms_kubeconfigs():
    profile = parse_profile_text(MINIMAL + "[clients]\nrepoint = true\n").profile
    assert profile is not None and profile.clients.repoint
    assert profile.clients.targets() == KUBEADM_KUBECONFIGS
    assert KUBEADM_KUBECONFIGS[0] == ClientKubeconfig(
        "/etc/kubernetes/kubelet.conf", "kubelet.service"
    )


def test_listed_kubeconfigs_round_trip_exactly():
    text = MINIMAL + (
        '\n[clients]\nrepoint = true\nca_file = "/etc/kubernetes/ssl/ca.pem"\n'
        '\n[[clients.kubeconfigs]]\npath = "/etc/kubernetes/kube-proxy.kubeconfig"\n'
        'unit = "kube-proxy.service"\n'
        '\n[[clients.kubeconfigs]]\npath = "/root/.kube/config"\n'
    )
    profile = parse_profile_text(text).profile
    assert profile is not None
    assert profile.clients.targets() == (
        ClientKubeconfig("/etc/kubernetes/kube-proxy.kubeconfig", "kube-proxy.service"),
        ClientKubeconfig("/root/.kube/config", ""),
    )
    again = parse_profile_text(dump_profile(profile)).profile
    assert again == profile
    assert not errors_in(validate(profile))


def test_unknown_key_and_wrong_types_are_named():
    bad = parse_profile_text(MINIMAL + '[clients]\nrepoint = "yes"\nservers = 1\n')
    text = "\n".join(str(p) for p in bad.problems)
    assert bad.profile is None
    assert "clients.repoint" in text and "true or false" in text
    assert "clients.servers" in text and "unknown key" in text


def clients(**values):
    return dataclasses.replace(example_profile("local-nginx"), clients=Clients(**values))


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        (
            {"repoint": True, "kubeconfigs": (ClientKubeconfig("etc/kubelet.conf"),)},
            "clients.kubeconfigs[0].path",
            "absolute file path",
        ),
        (
            {"repoint": True, "kubeconfigs": (ClientKubeconfig("/etc/../kubelet.conf"),)},
            "clients.kubeconfigs[0].path",
            "absolute file path",
        ),
        (
            {"repoint": True, "kubeconfigs": (ClientKubeconfig("/a", "kubelet; reboot"),)},
            "clients.kubeconfigs[0].unit",
            "systemd service",
        ),
        (
            {"repoint": True, "kubeconfigs": (ClientKubeconfig("/a"), ClientKubeconfig("//a"))},
            "clients.kubeconfigs[1].path",
            "duplicate",
        ),
        ({"repoint": True, "ca_file": "ca.pem"}, "clients.ca_file", "absolute path"),
    ],
)
def test_bad_values_name_field_value_and_expectation(values, field, expected):
    problems = errors_in(validate(clients(**values)))
    assert len(problems) == 1, problems
    assert problems[0].field == field and expected in str(problems[0])


def test_a_list_without_repoint_is_a_warning():
    problems = validate(clients(kubeconfigs=(ClientKubeconfig("/a"),)))
    assert not errors_in(problems)
    assert any(p.field == "clients.kubeconfigs" and "repoint = true" in str(p) for p in problems)
