"""validate(): every problem at once, each naming the field, the value and what is expected."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.examples import changed, example_profile, section
from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.problems import Severity, errors_in
from wizard.profile import Master, Node, SshTarget
from wizard.profile_io import parse_profile_text
from wizard.strategies import registry
from wizard.strategies.haproxy_keepalived import HaproxyKeepalived
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
        base,
        tables={
            **base.tables,
            "local_nginx": dataclasses.replace(section(base, "local_nginx"), listen_port=port),
        },
    )
    [problem] = [p for p in validate(profile) if p.field == "local_nginx.listen_port"]
    assert problem.value == port and "1 to 65535" in problem.expected


def test_proxy_port_clashing_with_apiserver_on_masters():
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "local_nginx": dataclasses.replace(section(base, "local_nginx"), listen_port=6443),
        },
    )
    assert "local_nginx.listen_port" in fields_of(validate(profile))
    hk = example_profile("haproxy-keepalived")
    clash = dataclasses.replace(
        hk,
        tables={
            **hk.tables,
            "haproxy_keepalived": dataclasses.replace(
                section(hk, "haproxy_keepalived"), frontend_port=6443
            ),
        },
    )
    assert "haproxy_keepalived.frontend_port" in fields_of(validate(clash))


def hk_with(**changes):
    base = example_profile("haproxy-keepalived")
    return dataclasses.replace(
        base,
        tables={
            **base.tables,
            "haproxy_keepalived": dataclasses.replace(
                section(base, "haproxy_keepalived"), **changes
            ),
        },
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
        ({"advert_int": 0}, "haproxy_keepalived.advert_int", "1 to 255"),
        ({"advert_int": 256}, "haproxy_keepalived.advert_int", "1 to 255"),
        ({"advert_int": 0.005}, "haproxy_keepalived.advert_int", "in hundredths"),
        ({"advert_int": 41.5}, "haproxy_keepalived.advert_int", "0.01 to 40.95"),
        ({"advert_int": float("inf")}, "haproxy_keepalived.advert_int", "number of seconds"),
        ({"advert_int": float("nan")}, "haproxy_keepalived.advert_int", "number of seconds"),
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
    profile = changed(base, section, **changes)
    assert field in fields_of(validate(profile)), validate(profile)


def test_ipvs_problems():
    base = example_profile("ipvs")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "ipvs": dataclasses.replace(
                section(base, "ipvs"),
                scheduler="fastest",
                apiserver_hostname="api server",
                vip="192.0.2.11",
            ),
        },
    )
    assert fields_of(validate(profile)) >= {"ipvs.scheduler", "ipvs.apiserver_hostname", "ipvs.vip"}


def test_every_problem_reported_at_once():
    base = example_profile("haproxy-keepalived")
    profile = dataclasses.replace(
        base,
        name="bad name",
        masters=(Master("M1", "10.0.0.300"),),
        tables={
            **base.tables,
            "haproxy_keepalived": dataclasses.replace(
                section(base, "haproxy_keepalived"), virtual_router_id=999
            ),
        },
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
        tables={
            **base.tables,
            "haproxy_keepalived": HaproxyKeepalived(
                vip="192.0.2.100", run_on="lb-nodes", frontend_port=6443
            ),
        },
    )
    assert errors_in(validate(profile)) == []


# --- issue 12: validation holes ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["\n", "\r", " ", "\t"])
@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("name", lambda p, s: dataclasses.replace(p, name=p.name + s)),
        (
            "masters[0].address",
            lambda p, s: with_masters(p, "192.0.2.11" + s, "192.0.2.12", "192.0.2.13"),
        ),
        (
            "masters[0].name",
            lambda p, s: dataclasses.replace(
                p, masters=(Master("m1" + s, "192.0.2.11"), *p.masters[1:])
            ),
        ),
        (
            "masters[0].address",
            lambda p, s: with_masters(p, "m1.example" + s, "192.0.2.12", "192.0.2.13"),
        ),
        (
            "install.prefix",
            lambda p, s: dataclasses.replace(
                p,
                tables={
                    **p.tables,
                    "install": dataclasses.replace(section(p, "install"), prefix="/opt/x" + s),
                },
            ),
        ),
        (
            "ssh.user",
            lambda p, s: dataclasses.replace(p, ssh=dataclasses.replace(p.ssh, user="root" + s)),
        ),
        (
            "health_check.path",
            lambda p, s: dataclasses.replace(
                p, health_check=dataclasses.replace(p.health_check, path="/readyz" + s)
            ),
        ),
    ],
)
def test_a_trailing_newline_or_blank_is_refused(field, change, suffix):
    problems = validate(change(example_profile("local-nginx"), suffix))
    assert field in fields_of(problems), problems


@pytest.mark.parametrize(
    ("address", "hint"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.18", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
    ],
)
@pytest.mark.parametrize("strategy", registry.names())
def test_addresses_that_can_never_be_a_master(strategy, address, hint):
    profile = with_masters(example_profile(strategy), "192.0.2.11", address, "192.0.2.13")
    problems = [p for p in validate(profile) if p.field == "masters[1].address" and p.is_error]
    assert any(p.value == address and hint in p.expected for p in problems), problems


def test_loopback_master_only_for_a_one_node_local_nginx():
    base = dataclasses.replace(example_profile("local-nginx"), workers=())
    alone = with_masters(base, "127.0.0.1")
    assert errors_in(validate(alone)) == []
    ipvs = dataclasses.replace(alone, strategy="ipvs")
    assert "masters[0].address" in fields_of(validate(ipvs))


def test_ipv4_link_local_is_a_warning():
    profile = with_masters(example_profile("local-nginx"), "169.254.0.11", "10.0.0.2", "10.0.0.3")
    assert "masters[0].address" in fields_of(validate(profile), Severity.WARNING)
    assert errors_in(validate(profile)) == []


@pytest.mark.parametrize("vip", ["0.0.0.0", "255.255.255.255", "239.1.1.1", "127.0.0.2", "::"])
def test_vips_that_can_never_work(vip):
    ipvs = example_profile("ipvs")
    profile = dataclasses.replace(
        ipvs, tables={**ipvs.tables, "ipvs": dataclasses.replace(section(ipvs, "ipvs"), vip=vip)}
    )
    assert "ipvs.vip" in fields_of(validate(profile))
    assert "haproxy_keepalived.vip" in fields_of(validate(hk_with(vip=vip, prefix_length=1)))


@pytest.mark.parametrize("host", ["0.0.0.0", "255.255.255.255", "224.0.0.1"])
def test_ssh_host_that_can_never_answer(host):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base, masters=(dataclasses.replace(base.masters[0], ssh=SshTarget(host=host)),)
    )
    assert "masters[0].ssh.host" in fields_of(validate(profile))


def test_multicast_listen_address_is_refused():
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "local_nginx": dataclasses.replace(
                section(base, "local_nginx"), listen_address="224.0.0.1"
            ),
        },
    )
    assert "local_nginx.listen_address" in fields_of(validate(profile))


@pytest.mark.parametrize("prefix", ["/", "//", "/.", "/./", "///", "//.", "/./.", "/opt/..", "/.."])
def test_install_prefix_that_is_the_root_folder(prefix):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "install": dataclasses.replace(section(base, "install"), prefix=prefix),
        },
    )
    [problem] = [p for p in validate(profile) if p.field == "install.prefix"]
    assert problem.value == prefix and "expected" in problem.expected


@pytest.mark.parametrize("prefix", ["/opt/kube-nginx", "/opt/kube-nginx/", "/usr/local/kube.nginx"])
def test_install_prefix_good(prefix):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "install": dataclasses.replace(section(base, "install"), prefix=prefix),
        },
    )
    assert "install.prefix" not in fields_of(validate(profile))


def test_ipvs_masters_of_the_other_family_are_refused():
    base = example_profile("ipvs")
    v6 = with_masters(base, "fd00::11", "192.0.2.12", "fd00::13")
    problems = [p for p in validate(v6) if p.is_error]
    assert {p.field for p in problems} >= {"masters[0].address", "masters[2].address"}
    assert "masters[1].address" not in {p.field for p in problems}
    assert "IPv4" in next(p for p in problems if p.field == "masters[0].address").expected
    v6_vip = dataclasses.replace(
        with_masters(base, "fd00::11", "fd00::12", "fd00::13"),
        tables={"ipvs": dataclasses.replace(section(base, "ipvs"), vip="fd00:103::2")},
    )
    assert errors_in(validate(v6_vip)) == []
    mixed = dataclasses.replace(v6_vip, tables={**v6_vip.tables, "ipvs": section(base, "ipvs")})
    assert len([p for p in validate(mixed) if p.field.endswith(".address")]) == 3


def test_build_host_is_checked_whatever_the_method():
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base,
        tables={
            **base.tables,
            "install": dataclasses.replace(section(base, "install"), build_host="local\n"),
        },
    )
    assert "install.build_host" in fields_of(validate(profile))


# --- issue 26: profiles -------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["local-nginx", "local-haproxy", "ipvs"])
def test_an_upper_case_api_host_name_is_refused_with_its_lower_case_form(strategy):
    base = example_profile(strategy)
    section = registry.get(strategy).section
    profile = changed(base, section, apiserver_hostname="API.Cluster.local")
    bad = [p for p in validate(profile) if p.field == f"{section}.apiserver_hostname"]
    assert bad and bad[0].is_error and bad[0].value == "API.Cluster.local"
    assert "'api.cluster.local'" in bad[0].expected and "certSANs" in bad[0].expected


@pytest.mark.parametrize("strategy", registry.names())
def test_an_upper_case_master_host_name_is_refused(strategy):
    profile = with_masters(example_profile(strategy), "192.0.2.11", "M2.Example.com", "192.0.2.13")
    bad = [p for p in validate(profile) if p.field == "masters[1].address" and p.is_error]
    assert bad and bad[0].value == "M2.Example.com" and "'m2.example.com'" in bad[0].expected


def test_an_upper_case_worker_host_name_is_taken():
    """A worker's address reaches no certificate: SSH and DNS take any case."""
    base = example_profile("local-nginx")
    profile = dataclasses.replace(base, workers=(Node("w1", "W1.Example.com"),))
    assert "workers[0].address" not in fields_of(validate(profile))


def test_a_section_of_another_strategy_is_a_warning_naming_both():
    """[local_nginx] listen_port = 9443 under strategy local-haproxy used to be silently ignored
    (local-haproxy rendered its own 8443): it is set aside when read, and said."""
    text = (
        EXAMPLE_PROFILES_DIR / "local-haproxy.toml"
    ).read_text() + "\n[local_nginx]\nlisten_port = 9443\n"
    profile = parse_profile_text(text).profile
    assert profile is not None and dict(profile.set_aside) == {"local_nginx": {"listen_port": 9443}}
    found = [p for p in validate(profile) if p.field == "local_nginx"]
    assert len(found) == 1 and found[0].severity is Severity.WARNING, found
    assert found[0].value == {"listen_port": 9443}
    assert "local-haproxy" in found[0].expected and "[local_haproxy]" in found[0].expected
    assert "set aside" in found[0].expected and "local-nginx" in found[0].expected
    assert errors_in(validate(profile)) == []


def test_sections_of_other_strategies_at_their_defaults_say_nothing(example):
    assert not [
        p
        for p in validate(example)
        if p.field in {s.section for s in registry.strategies()} and not p.is_error
    ]


LB_NODES = (Node("lb1", "192.0.2.31"), Node("lb2", "192.0.2.32"))


@pytest.mark.parametrize("strategy", ["local-nginx", "local-haproxy", "ipvs"])
def test_lb_nodes_under_a_strategy_that_does_not_use_them_are_refused(strategy):
    profile = dataclasses.replace(example_profile(strategy), lb_nodes=LB_NODES)
    bad = [p for p in validate(profile) if p.field == "lb_nodes"]
    assert bad and bad[0].is_error and bad[0].value == "lb1, lb2", bad
    assert f"strategy {strategy} " in bad[0].expected and "haproxy-keepalived" in bad[0].expected


def test_lb_nodes_under_haproxy_keepalived_on_the_masters_are_refused():
    profile = dataclasses.replace(example_profile("haproxy-keepalived"), lb_nodes=LB_NODES)
    bad = [p for p in validate(profile) if p.field == "lb_nodes"]
    assert bad and "run_on = 'masters'" in bad[0].expected, bad


@pytest.mark.parametrize("name", ["id[1]", "clé-ssh", "my key", "it's", "-dash", "a@b"])
def test_key_and_known_hosts_paths_take_what_a_path_may_hold(tmp_path, name):
    """kubeha only opens these files (never through a shell): '[' was refused 'for spaces,
    quotes or control characters', which it holds none of."""
    path = tmp_path / name
    path.write_text("x\n")
    base = example_profile("local-nginx")
    profile = dataclasses.replace(
        base, ssh=dataclasses.replace(base.ssh, key_file=str(path), known_hosts=str(path))
    )
    assert not fields_of(validate(profile)) & {"ssh.key_file", "ssh.known_hosts"}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("/tmp/a\nb", "\\n"),
        ("/tmp/a\x1bb", "\\x1b"),
        ("/tmp/a\x00b", "\\x00"),
        ("/tmp/\u202eb", "\\u202e"),
    ],
)
def test_a_key_path_with_control_characters_names_them(value, named):
    base = example_profile("local-nginx")
    profile = dataclasses.replace(base, ssh=dataclasses.replace(base.ssh, key_file=value))
    bad = next(p for p in validate(profile) if p.field == "ssh.key_file")
    assert (
        named in bad.expected and "control" in bad.expected and "without spaces" not in bad.expected
    )
