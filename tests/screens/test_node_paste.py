"""Issue 12: a pasted node list with one bad address names that address, not ``masters[0].name``."""

from __future__ import annotations

import dataclasses

import pytest

from screens.node_text import parse_nodes
from tests.support.examples import example_profile
from wizard.profile import Master, Node
from wizard.validation import validate


def problems_for(text: str, group: str = "masters"):
    nodes, problems = parse_nodes(text, group)
    profile = dataclasses.replace(example_profile("local-nginx"), **{group: nodes})
    return nodes, problems + [p for p in validate(profile) if p.is_error]


@pytest.mark.parametrize(
    "text", ["10.0.0.11 10.0.0.12 10.0.0.300", "10.0.0.11, 10.0.0.12, 10.0.0.300"]
)
def test_one_bad_address_in_a_pasted_list_is_named(text):
    nodes, problems = problems_for(text)
    assert [n.address for n in nodes] == ["10.0.0.11", "10.0.0.12", "10.0.0.300"]
    assert [str(p) for p in problems] == [
        "error: masters[2].address: '10.0.0.300': expected an IPv4 or IPv6 address or a host "
        "name, e.g. 10.0.0.11"
    ]


def test_a_pasted_list_of_host_names_and_addresses():
    nodes, problems = problems_for("w1.example 10.0.0.21 fd00::22", "workers")
    assert problems == []
    assert nodes == (
        Node("worker1", "w1.example"),
        Node("worker2", "10.0.0.21"),
        Node("worker3", "fd00::22"),
    )


def test_named_forms_are_unchanged():
    nodes, problems = problems_for("a 10.0.0.1 7443\n10.0.0.2 7444\nc 10.0.0.3")
    assert problems == []
    assert nodes == (
        Master("a", "10.0.0.1", 7443),
        Master("master2", "10.0.0.2", 7444),
        Master("c", "10.0.0.3"),
    )


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [
        ("10.0.0.1 ssh=ops@127.0.0.1:2211", "10.0.0.1", 6443),
        ("10.0.0.1 7443 ssh=ops@127.0.0.1:2211", "10.0.0.1", 7443),
        ("m1 10.0.0.1 ssh=ops@127.0.0.1:2211", "10.0.0.1", 6443),
    ],
)
def test_a_line_with_its_own_ssh_settings_is_one_node(text, address, port):
    nodes, problems = parse_nodes(text, "masters")
    assert problems == []
    [node] = nodes
    assert (node.address, node.apiserver_port, node.ssh.port) == (address, port, 2211)
