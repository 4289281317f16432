"""The node agent as a profile choice (wizard.strategies.node_agent): the ``[agent]`` table's
checks, the files local-nginx and local-haproxy put on every node with it (the pyz first, whose
check is the node's python preflight; agent.json read by the agent's own strict reader; a
hardened unit that systemd-analyze accepts; nginx's upstream include that ``nginx -t`` reads),
and the least-privilege objects discovery's token comes from."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import tomli_w

from tests.support.examples import changed, example_profile
from tests.support.realcheck import check_haproxy, check_nginx, check_unit, have
from wizard.agent.config import Rebalance, parse_config
from wizard.profile_io import parse_profile_text, profile_to_dict
from wizard.strategies import node_agent, registry
from wizard.strategies.node_agent import AgentTable

NODE_LOCAL = ("local-nginx", "local-haproxy")


def with_agent(strategy: str, **fields: object):
    profile = example_profile(strategy)
    return changed(profile, "agent", **{"enabled": True, **fields})


def files_of(profile, node: str | None = None):
    plan = registry.get(profile.strategy).plan(profile)
    return {f.path: f for f in (plan.for_node(node) if node else plan.nodes[0]).files}


@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_off_by_default_nothing_of_the_agent_on_a_node(strategy):
    profile = example_profile(strategy)
    assert node_agent.agent_of(profile) == AgentTable()
    paths = files_of(profile)
    assert not set(paths) & set(node_agent.node_paths(profile))
    plan = registry.get(strategy).plan(profile)
    assert node_agent.UNIT not in plan.nodes[0].services


@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_every_node_gets_the_pyz_first_its_config_and_its_unit(strategy):
    profile = with_agent(strategy, discovery=True)
    plan = registry.get(strategy).plan(profile)
    for node in plan.nodes:
        assert node.files[0].path == node_agent.PYZ_PATH  # its check runs before any change
        paths = [f.path for f in node.files]
        assert {node_agent.CONFIG_PATH, node_agent.UNIT_PATH} <= set(paths)
        assert node_agent.UNIT in node.services
    files = files_of(profile)
    assert files[node_agent.CONFIG_PATH].mode == 0o600
    config = parse_config(files[node_agent.CONFIG_PATH].content)  # the agent's own reader
    assert [(m.address, m.port) for m in config.seed] == [
        (m.address, m.apiserver_port) for m in profile.masters
    ]
    assert config.discovery is not None
    assert config.discovery.token_file == node_agent.TOKEN_PATH
    assert config.discovery.host == "apiserver.cluster.local"
    assert (config.listen_address, config.listen_port) == ("127.0.0.1", 9446)
    assert config.balancer == {"local-nginx": "nginx", "local-haproxy": "haproxy"}[strategy]
    # every path the plan writes is one the validator knows as kubeha's
    assert set(files) <= set(registry.get(strategy).node_files(profile))


@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_rebalance_is_off_unless_asked_and_then_the_agent_reads_it(strategy):
    off = files_of(with_agent(strategy))[node_agent.CONFIG_PATH].content
    assert json.loads(off)["rebalance"] is None
    assert parse_config(off).rebalance is None
    on = with_agent(strategy, rebalance=True, rebalance_ratio=1.5)
    config = parse_config(files_of(on)[node_agent.CONFIG_PATH].content)  # the agent's reader
    balancer = {"local-nginx": "nginx", "local-haproxy": "haproxy"}[strategy]
    # the agent's own defaults per round and idle time; only its balancer's connections,
    # told by the unit's cgroup (the agent's unit cannot see haproxy's workers)
    unit = f"kube-{balancer}.service"
    assert config.rebalance == Rebalance(2, 1000, 1.5, process=balancer, unit=unit)


def test_discovery_off_writes_no_discovery_and_needs_no_token():
    files = files_of(with_agent("local-haproxy"))
    config = parse_config(files[node_agent.CONFIG_PATH].content)
    assert config.discovery is None
    assert config.admin_socket == "/run/kube-haproxy/admin.sock"
    assert "tcp-ut" in config.server_params  # the same server options as the config's


def test_the_python_preflight_passes_here_and_names_what_an_old_node_has():
    pyz = files_of(with_agent("local-nginx"))[node_agent.PYZ_PATH]
    argv = [sys.executable if a == "python3" else a for a in pyz.check]
    assert subprocess.run([a.replace("{file}", "x") for a in argv]).returncode == 0
    old = [a.replace("(3, 9)", "(99, 0)") for a in argv]
    result = subprocess.run(old, capture_output=True, text=True)
    assert result.returncode == 1
    assert "kubeha-agent needs python3 3.9 or later; this node has 3." in result.stderr


def test_the_pyz_runs_and_refuses_a_config_it_cannot_run(tmp_path):
    pyz = files_of(with_agent("local-nginx"))[node_agent.PYZ_PATH]
    assert pyz.data is not None
    (tmp_path / "agent.pyz").write_bytes(pyz.data)
    (tmp_path / "agent.json").write_text('{"seed": []}')
    result = subprocess.run(
        [sys.executable, str(tmp_path / "agent.pyz"), "--config", str(tmp_path / "agent.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "seed: []: expected at least one master" in result.stderr


@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze")
@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_the_unit_is_hardened_and_systemd_reads_it(strategy):
    unit = files_of(with_agent(strategy, discovery=True))[node_agent.UNIT_PATH]
    for line in (
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_KILL",
    ):
        assert line in unit.content.splitlines()
    writes = [line for line in unit.content.splitlines() if line.startswith("ReadWritePaths=")]
    assert writes == (
        ["ReadWritePaths=/etc/kube-nginx/kubeha-agent"] if strategy == "local-nginx" else []
    )
    assert check_unit(unit) == []


@pytest.mark.skipif(not have("nginx"), reason="nginx")
def test_nginx_reads_its_upstream_from_the_include_the_agent_owns(tmp_path):
    profile = with_agent("local-nginx")
    files = files_of(profile)
    include = files["/etc/kube-nginx/kubeha-agent/upstream.conf"]
    conf = files["/etc/kube-nginx/kube-nginx.conf"]
    assert "include /etc/kube-nginx/kubeha-agent/upstream.conf;" in conf.content
    assert "server " not in conf.content.split("upstream kube_apiserver", 1)[1].split("}")[0]
    for m in profile.masters:
        assert f"server {m.address}:{m.apiserver_port} max_fails=2 fail_timeout=10s;" in (
            include.content
        )
    # the include first in the plan: the config's check on the node reads it
    paths = list(files)
    assert paths.index(include.path) < paths.index(conf.path)
    (tmp_path / "upstream.conf").write_text(include.content)
    local = conf.content.replace(include.path, str(tmp_path / "upstream.conf"))
    local = local.replace("/run/kube-nginx.pid", str(tmp_path / "nginx.pid"))
    (tmp_path / "kube-nginx.conf").write_text(local)
    result = check_nginx(tmp_path / "kube-nginx.conf", source_layout=False)
    assert result.returncode == 0, result.stderr
    (tmp_path / "upstream.conf").write_text("server nowhere max_fails=x;\n")
    assert check_nginx(tmp_path / "kube-nginx.conf", source_layout=False).returncode != 0


@pytest.mark.skipif(not have("haproxy"), reason="haproxy")
def test_haproxy_gets_a_spare_slot_per_master_that_haproxy_reads(tmp_path):
    profile = with_agent("local-haproxy", discovery=True)
    off = files_of(example_profile("local-haproxy"))["/etc/kube-haproxy/haproxy.cfg"]
    on = files_of(profile)["/etc/kube-haproxy/haproxy.cfg"]
    assert "kubeha-spare" not in off.content
    spares = [line.split()[1] for line in on.content.splitlines() if "kubeha-spare" in line]
    assert len(spares) == 2 * len(profile.masters)
    checked = next(line for line in on.content.splitlines() if "server kubeha-spare1 " in line)
    assert " disabled " in checked and "tcp-ut" in checked and "check-ssl" in checked
    local = on.content.replace("/run/kube-haproxy/", f"{tmp_path}/")
    local = "\n".join(
        line for line in local.splitlines() if line.split()[:1] not in (["user"], ["group"])
    )
    (tmp_path / "haproxy.cfg").write_text(local + "\n")
    result = check_haproxy(tmp_path / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("fields", "where", "expected"),
    [
        ({"enabled": False, "discovery": True}, "agent.discovery", "set agent.enabled = true"),
        ({"listen_port": 8443}, "agent.listen_port", "expected another port, e.g. 9446"),
        ({"listen_port": 6443}, "agent.listen_port", "expected another port"),
        ({"listen_port": 0}, "agent.listen_port", "expected a port from 1 to 65535"),
        ({"listen_address": "nowhere"}, "agent.listen_address", "expected an IPv4 or IPv6"),
        ({"enabled": False, "rebalance": True}, "agent.rebalance", "set agent.enabled = true"),
        ({"rebalance_ratio": 0.5}, "agent.rebalance_ratio", "a number from 1 to 10"),
        ({"rebalance_ratio": 11.0}, "agent.rebalance_ratio", "a number from 1 to 10"),
    ],
)
@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_a_bad_agent_value_is_named_with_what_is_expected(strategy, fields, where, expected):
    profile = with_agent(strategy, **fields)
    problems = [p for p in registry.get(strategy).check(profile) if p.field == where]
    assert problems and expected in problems[0].expected, problems


def test_a_metrics_address_off_loopback_is_a_warning():
    profile = with_agent("local-nginx", listen_address="10.0.0.5")
    problems = [
        p for p in registry.get("local-nginx").check(profile) if p.field == "agent.listen_address"
    ]
    assert problems and not problems[0].is_error


def test_the_table_reads_and_writes_back_in_a_profile():
    profile = with_agent(
        "local-haproxy", discovery=True, listen_port=9555, rebalance=True, rebalance_ratio=1.5
    )
    text = tomli_w.dumps(profile_to_dict(profile))
    assert "[agent]" in text
    again = parse_profile_text(text).profile
    assert again is not None and node_agent.agent_of(again) == AgentTable(
        True, True, "127.0.0.1", 9555, True, 1.5
    )


def test_the_agent_reads_only_the_kubernetes_endpoints_and_nothing_else():
    objects = node_agent.access_objects()
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding", "Secret"]
    role = objects[1]
    assert role["metadata"]["namespace"] == "default"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["endpoints"],
            "resourceNames": ["kubernetes"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = objects[2]
    assert binding["roleRef"]["kind"] == "Role" and binding["metadata"]["namespace"] == "default"
    secret = objects[3]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": node_agent.ACCESS_NAME
    }
    assert all(o["metadata"]["labels"] == node_agent.MANAGED for o in objects)
    json.dumps(objects)  # what kubectl create -f - reads


def test_a_secret_file_is_root_only_and_never_shown():
    token = node_agent.secret_file(node_agent.TOKEN_PATH, b"eyJsecret")
    assert token.mode == 0o600 and token.secret and "eyJ" not in token.content


def test_a_free_spare_slot_does_not_hide_that_every_master_fails():
    from wizard.strategies.local_haproxy import all_failing_from_stats

    header = "# pxname,svname,status,bck\n"
    rows = [
        "kube-apiserver,m1,DOWN,0",
        "kube-apiserver,m2,DOWN,0",
        "kube-apiserver,kubeha-spare1,MAINT,0",
        "kube-apiserver,kubeha-spare1-unchecked,MAINT,1",
    ]
    assert "every master (2)" in all_failing_from_stats(header + "\n".join(rows))


@pytest.mark.parametrize("strategy", NODE_LOCAL)
def test_the_agent_beside_a_static_pod_balancer_is_refused_naming_the_field(strategy):
    profile = changed(
        with_agent(strategy), "balancer", run_as="static-pod", image="registry.example/lb:1"
    )
    found = [p for p in registry.get(strategy).check(profile) if p.field == "agent.enabled"]
    assert found and 'run_as = "systemd"' in found[0].expected


def test_haproxy_keepalived_runs_the_agent_on_its_load_balancer_nodes_only():
    """Its haproxy is on the carriers (the masters here); a worker runs only the VIP follower.
    The agent reaches the cluster through the VIP (every client's certificate name) and changes
    haproxy through a runtime API the config opens with the agent only."""
    profile = with_agent("haproxy-keepalived", discovery=True, rebalance=True)
    strategy = registry.get("haproxy-keepalived")
    plan = strategy.plan(profile)
    hk = profile.table("haproxy_keepalived", type(strategy.settings(profile)))
    for node in plan.nodes:
        paths = [f.path for f in node.files]
        if node.role == "master":
            assert paths[0] == node_agent.PYZ_PATH and node_agent.UNIT in node.services
            assert set(paths) <= set(strategy.node_files(profile))
        else:
            assert node_agent.PYZ_PATH not in paths and node_agent.UNIT not in node.services
    files = files_of(profile, "master1")
    config = parse_config(files[node_agent.CONFIG_PATH].content)
    assert config.discovery is not None
    assert (config.discovery.host, config.discovery.port) == (hk.vip, hk.frontend_port)
    assert config.balancer == "haproxy"
    # a server the agent adds has every option the config's servers have (its default-server
    # line and tcp-ut): haproxy applies no default-server to a server added at runtime
    words = [line.split() for line in files["/etc/haproxy/haproxy.cfg"].content.splitlines()]
    default = next(w[1:] for w in words if w[:1] == ["default-server"])
    first = next(w[3:] for w in words if w[:1] == ["server"])
    assert config.server_params.split() == [*default, *first]
    assert config.rebalance is not None and config.rebalance.unit == "haproxy.service"
    cfg = files["/etc/haproxy/haproxy.cfg"].content
    assert f"stats socket {config.admin_socket} mode 600 level admin" in cfg
    assert cfg.count("server kubeha-spare") == 2 * len(profile.masters)
    plain = files_of(example_profile("haproxy-keepalived"), "master1")["/etc/haproxy/haproxy.cfg"]
    assert "stats socket" not in plain.content and "kubeha-spare" not in plain.content
    port = [p for p in strategy.check(changed(profile, "agent", listen_port=hk.frontend_port))]
    assert any(p.field == "agent.listen_port" for p in port)
    pods = changed(profile, "balancer", run_as="static-pod", image="registry.example/lb:1")
    assert any(p.field == "agent.enabled" for p in strategy.check(pods))
