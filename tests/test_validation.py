"""validate(): every problem at once, each naming the field, the value and what is expected."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import example_profile
from wizard.problems import Severity, errors_in
from wizard.profile import HaproxyKeepalived, Master, Node, SshTarget
from wizard.validation import validate


def fields_of(problems, severity=Severity.ERROR):
    return {p.field for p in problems if p.severity is severity}


def test_examples_are_valid(example):
    assert errors_in(validate(example)) == []


def with_masters(profile, *addresses):
    return dataclasses.replace(
        profile, masters=tuple(Master(f"m{i}", a) for i, a in enumerate(addresses, 1))
    )


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.300",
        "10.0.0",
        "",
        "a b",
        "x\ny",
        "10.0.0.1;",
        "{x}",
        "-bad",
        "fe80::1%eth0",
        "a" * 64,
    ],
)
def test_bad_addresses_are_named(address):
    profile = with_masters(example_profile("local-nginx"), "10.0.0.1", address, "10.0.0.3")
    problems = validate(profile)
    bad = [p for p in problems if p.field == "masters[1].address"]
    assert bad and bad[0].value == address and "expected" in bad[0].expected


@pytest.mark.parametrize("address", ["10.0.0.2", "fd00::2", "master-2.example.com", "m2"])
def test_good_addresses(address):
    profile = with_masters(example_profile("local-nginx"), "10.0.0.1", address, "10.0.0.3")
    assert errors_in(validate(profile)) == []


def test_duplicates_names_addresses_and_ssh_endpoints():
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        masters=(
            Master("m1", "10.0.0.1", ssh=SshTarget(host="127.0.0.1", port=2211)),
            Master("m1", "10.0.0.2"),
            Master("m3", "10.0.0.1", ssh=SshTarget(host="127.0.0.1", port=2211)),
        ),
        workers=(Node("w1", "fd00:0::1"), Node("w2", "fd00::1")),
    )
    problems = validate(profile)
    messages = {p.field: p.expected for p in problems}
    assert "duplicate" in messages["masters[1].name"]
    assert "duplicate" in messages["masters[2].address"]
    assert "duplicate" in messages["masters[2].ssh"]
    assert "duplicate" in messages["workers[1].address"]  # same IPv6 address written differently


def test_master_counts():
    base = example_profile("local-nginx")
    assert fields_of(validate(dataclasses.replace(base, masters=())), Severity.ERROR) >= {"masters"}
    assert "masters" in fields_of(validate(with_masters(base, "10.0.0.1")), Severity.WARNING)
    assert "masters" in fields_of(
        validate(with_masters(base, "10.0.0.1", "10.0.0.2")), Severity.WARNING
    )
    assert "masters" not in fields_of(
        validate(with_masters(base, "10.0.0.1", "10.0.0.2", "10.0.0.3")), Severity.WARNING
    )


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_ports_out_of_range(port):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base, local_nginx=dataclasses.replace(base.local_nginx, listen_port=port)
    )
    [problem] = [p for p in validate(profile) if p.field == "local_nginx.listen_port"]
    assert problem.value == port and "1 to 65535" in problem.expected


def test_proxy_port_clashing_with_apiserver_on_masters():
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base, local_nginx=dataclasses.replace(base.local_nginx, listen_port=6443)
    )
    assert "local_nginx.listen_port" in fields_of(validate(profile))
    hk = example_profile("haproxy-keepalived")
    clash = dataclasses.replace(
        hk, haproxy_keepalived=dataclasses.replace(hk.haproxy_keepalived, frontend_port=6443)
    )
    assert "haproxy_keepalived.frontend_port" in fields_of(validate(clash))


def hk_with(**changes):
    base = example_profile("haproxy-keepalived")
    return dataclasses.replace(
        base, haproxy_keepalived=dataclasses.replace(base.haproxy_keepalived, **changes)
    )


@pytest.mark.parametrize(
    ("changes", "field", "hint"),
    [
        ({"vip": "192.0.2.11"}, "haproxy_keepalived.vip", "masters[0].address"),
        ({"vip": "198.51.100.7"}, "haproxy_keepalived.vip", "same subnet"),
        ({"vip": "not-an-ip"}, "haproxy_keepalived.vip", "virtual IP"),
        ({"vip": ""}, "haproxy_keepalived.vip", "virtual IP"),
        ({"virtual_router_id": 0}, "haproxy_keepalived.virtual_router_id", "1 to 255"),
        ({"virtual_router_id": 256}, "haproxy_keepalived.virtual_router_id", "1 to 255"),
        ({"interface": "eth0;reboot"}, "haproxy_keepalived.interface", "interface name"),
        ({"interface": "a-very-long-interface"}, "haproxy_keepalived.interface", "interface name"),
        ({"interface": "eth 0"}, "haproxy_keepalived.interface", "interface name"),
        ({"prefix_length": 33}, "haproxy_keepalived.prefix_length", "1 to 32"),
        ({"run_on": "lb-nodes"}, "haproxy_keepalived.run_on", "lb_nodes"),
        ({"run_on": "everywhere"}, "haproxy_keepalived.run_on", "one of"),
    ],
)
def test_haproxy_keepalived_problems(changes, field, hint):
    problems = [p for p in validate(hk_with(**changes)) if p.field == field and p.is_error]
    assert problems, validate(hk_with(**changes))
    assert hint in problems[0].expected


def test_keepalived_needs_ip_addresses_for_peers():
    profile = dataclasses.replace(
        example_profile("haproxy-keepalived"),
        masters=(
            Master("m1", "m1.example"),
            Master("m2", "192.0.2.12"),
            Master("m3", "192.0.2.13"),
        ),
    )
    assert "masters[0].address" in fields_of(validate(profile))


@pytest.mark.parametrize(
    ("section", "changes", "field"),
    [
        ("health_check", {"path": "/readyz;drop"}, "health_check.path"),
        ("health_check", {"path": "readyz"}, "health_check.path"),
        ("health_check", {"path": "/ready z"}, "health_check.path"),
        ("health_check", {"path": '/r"'}, "health_check.path"),
        ("health_check", {"interval": 0.0}, "health_check.interval"),
        ("health_check", {"fall": 0}, "health_check.fall"),
        ("install", {"prefix": "opt/x"}, "install.prefix"),
        ("install", {"prefix": "/opt/x y"}, "install.prefix"),
        ("install", {"method": "snap"}, "install.method"),
        (
            "install",
            {"configure_flags": ("--with-stream", "; rm -rf /")},
            "install.configure_flags[1]",
        ),
        ("ssh", {"user": "Root User"}, "ssh.user"),
        ("ssh", {"port": 0}, "ssh.port"),
        ("ssh", {"key_file": "/nonexistent/id_ed25519"}, "ssh.key_file"),
        ("ssh", {"bastion": "ops@@jump"}, "ssh.bastion"),
        ("ssh", {"bastion": "jump:99999"}, "ssh.bastion"),
    ],
)
def test_section_problems(section, changes, field):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base, **{section: dataclasses.replace(getattr(base, section), **changes)}
    )
    assert field in fields_of(validate(profile)), validate(profile)


def test_ipvs_problems():
    base = example_profile("ipvs")
    profile = dataclasses.replace(
        base,
        ipvs=dataclasses.replace(
            base.ipvs, scheduler="fastest", apiserver_hostname="api server", vip="192.0.2.11"
        ),
    )
    assert fields_of(validate(profile)) >= {"ipvs.scheduler", "ipvs.apiserver_hostname", "ipvs.vip"}


def test_every_problem_reported_at_once():
    base = example_profile("haproxy-keepalived")
    profile = dataclasses.replace(
        base,
        name="bad name",
        masters=(Master("M1", "10.0.0.300"),),
        haproxy_keepalived=dataclasses.replace(base.haproxy_keepalived, virtual_router_id=999),
        health_check=dataclasses.replace(base.health_check, rise=0),
    )
    assert fields_of(validate(profile)) >= {
        "name",
        "masters[0].name",
        "masters[0].address",
        "haproxy_keepalived.virtual_router_id",
        "health_check.rise",
    }


def test_problem_text_names_field_value_and_expectation():
    profile = with_masters(example_profile("local-nginx"), "10.0.0.1", "10.0.0.300", "10.0.0.3")
    text = str(next(p for p in validate(profile) if p.field == "masters[1].address"))
    assert text.startswith("error: masters[1].address: '10.0.0.300': expected")


def test_lb_nodes_profile_is_valid():
    base = example_profile("haproxy-keepalived")
    profile = dataclasses.replace(
        base,
        lb_nodes=(Node("lb1", "192.0.2.31"), Node("lb2", "192.0.2.32")),
        haproxy_keepalived=HaproxyKeepalived(
            vip="192.0.2.100", run_on="lb-nodes", frontend_port=6443
        ),
    )
    assert errors_in(validate(profile)) == []
