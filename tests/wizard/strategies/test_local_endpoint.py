"""The node-local strategies' endpoint: clients dial ``apiserver.cluster.local`` (a managed
/etc/hosts line on every node resolves it to the proxy), never the proxy's own 127.0.0.1, which
kubeadm would copy into admin.conf and the cluster-info ConfigMap; the kubeadm snippet's API
(``[cluster] kubeadm_api``); both fields checked, saved and read back."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.examples import changed, example_profile
from tests.support.fake_node import FakeCluster
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.engine.remote import ABSENT, HOSTS_MARKER, ORIG
from wizard.problems import errors_in
from wizard.profile import Cluster
from wizard.profile_io import dump_profile, load_profile, parse_profile_text, save_profile
from wizard.profile_save import update_text
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.validation import validate

LOCAL = ("local-nginx", "local-haproxy")
HOSTS = "/etc/hosts"
NODE_HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.9.9.9 other # the operator's\n"


def with_section(profile, **changes):
    return changed(profile, registry.get(profile.strategy).section, **changes)


def snippet(plan, name: str) -> str:
    return next(s.content for s in plan.snippets if s.path == name)


# --- the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", LOCAL)
def test_clients_dial_the_name_and_every_node_resolves_it_to_its_proxy(strategy):
    plan = build_plan(example_profile(strategy))
    assert plan.server_url == "https://apiserver.cluster.local:8443"
    for node in plan.nodes:
        [line] = [f for f in node.files if f.kind == "line"]
        assert (line.path, line.content) == (HOSTS, "127.0.0.1 apiserver.cluster.local\n")
        assert node.verify_url == "https://apiserver.cluster.local:8443/readyz"
        assert node.ports == (("127.0.0.1", 8443),)  # the proxy still listens on loopback
    kubeadm = snippet(plan, "kubeadm-config.yaml")
    assert 'controlPlaneEndpoint: "apiserver.cluster.local:8443"' in kubeadm
    assert "127.0.0.1:8443" not in kubeadm
    sans = [line.strip()[3:-1] for line in kubeadm.splitlines() if line.startswith("  - ")]
    assert sans[:2] == ["apiserver.cluster.local", "127.0.0.1"]
    assert "server: https://apiserver.cluster.local:8443" in snippet(plan, "kubeconfig-server.txt")


def test_the_nginx_proxy_still_listens_on_the_listen_address():
    plan = build_plan(example_profile("local-nginx"))
    conf = plan.nodes[0].files[0].content
    assert "listen 127.0.0.1:8443" in conf and "apiserver.cluster.local" not in conf


@pytest.mark.parametrize(
    ("listen", "dialed"), [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("::1", "::1")]
)
@pytest.mark.parametrize("strategy", LOCAL)
def test_the_hosts_line_names_an_address_the_node_reaches_its_proxy_on(strategy, listen, dialed):
    profile = with_section(example_profile(strategy), listen_address=listen)
    plan = build_plan(profile)
    [line] = [f for f in plan.nodes[0].files if f.kind == "line"]
    assert line.content == f"{dialed} apiserver.cluster.local\n"
    assert plan.nodes[0].ports == ((listen, 8443),)
    assert f'  - "{dialed}"' in snippet(plan, "kubeadm-config.yaml")


@pytest.mark.parametrize("strategy", LOCAL)
def test_another_name_goes_everywhere_the_default_went(strategy):
    profile = with_section(example_profile(strategy), apiserver_hostname="k8s-api.internal")
    plan = build_plan(profile)
    assert plan.server_url == "https://k8s-api.internal:8443"
    assert plan.nodes[-1].verify_url == "https://k8s-api.internal:8443/readyz"
    assert [f.content for f in plan.nodes[-1].files if f.kind == "line"] == [
        "127.0.0.1 k8s-api.internal\n"
    ]
    assert 'controlPlaneEndpoint: "k8s-api.internal:8443"' in snippet(plan, "kubeadm-config.yaml")


@pytest.mark.parametrize("strategy", LOCAL)
def test_the_lab_profile_names_the_name_its_certificates_carry(strategy):
    from wizard.lab import profiles

    section = registry.get(strategy).lab_section(profiles.site(False))
    assert section["apiserver_hostname"] == "apiserver.cluster.local"


# --- the checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["api server", "", "api_server.local", "10.0.0.300", "a\nb"])
@pytest.mark.parametrize("strategy", [*LOCAL, "ipvs"])
def test_a_bad_host_name_is_named_with_its_value(strategy, bad):
    profile = with_section(example_profile(strategy), apiserver_hostname=bad)
    section = registry.get(strategy).section
    [problem] = [p for p in errors_in(validate(profile)) if p.field.endswith("apiserver_hostname")]
    assert problem.field == f"{section}.apiserver_hostname" and problem.value == bad
    assert problem.expected == "expected a host name, e.g. apiserver.cluster.local"


@pytest.mark.parametrize("bad", ["v1beta2", "V1BETA4", "", "kubeadm.k8s.io/v1beta4"])
def test_a_bad_kubeadm_api_names_the_field_the_value_and_the_choices(bad):
    profile = dataclasses.replace(example_profile("local-nginx"), cluster=Cluster(bad))
    [problem] = errors_in(validate(profile))
    assert (problem.field, problem.value) == ("cluster.kubeadm_api", bad)
    assert "v1beta4 (kubeadm 1.31 and newer)" in problem.expected
    assert "v1beta3 (kubeadm 1.22 to 1.35 (deprecated in 1.31, removed in kubeadm 1.36)" in (
        problem.expected
    )


# --- the kubeadm snippet's API ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", registry.names())
@pytest.mark.parametrize("api", ["v1beta4", "v1beta3"])
def test_the_snippet_is_written_in_the_chosen_api(strategy, api):
    profile = dataclasses.replace(example_profile(strategy), cluster=Cluster(api))
    text = snippet(build_plan(profile), "kubeadm-config.yaml")
    assert f"\napiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\n" in text
    # only what both APIs take the same way: no extraArgs (a map in v1beta3, a list in v1beta4)
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0] not in "# -"]
    assert keys == ["apiVersion", "kind", "controlPlaneEndpoint", "apiServer"]
    assert "extraArgs" not in text and "timeoutForControlPlane" not in text


def test_v1beta4_is_the_default():
    assert example_profile("ipvs").cluster.kubeadm_api == "v1beta4"


# --- saved and read back ----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", LOCAL)
def test_both_fields_round_trip(strategy, tmp_path):
    profile = with_section(example_profile(strategy), apiserver_hostname="k8s-api.internal")
    profile = dataclasses.replace(profile, cluster=Cluster("v1beta3"))
    path = save_profile(profile, tmp_path / "p.toml")
    text = path.read_text()
    assert 'apiserver_hostname = "k8s-api.internal"' in text
    assert '[cluster]\nkubeadm_api = "v1beta3"' in text
    assert load_profile(path) == profile


def test_defaults_leave_cluster_out_and_old_profiles_read_as_before():
    profile = example_profile("local-nginx")
    assert "[cluster]" not in dump_profile(profile)
    text = dump_profile(profile).replace('apiserver_hostname = "apiserver.cluster.local"\n', "")
    assert parse_profile_text(text).profile == profile


def test_an_edit_of_the_example_keeps_its_comments_and_adds_cluster():
    path = registry_example("local-nginx")
    original = path.read_text()
    edited = dataclasses.replace(load_profile(path), cluster=Cluster("v1beta3"))
    updated = update_text(original, edited)
    assert updated is not None and updated.startswith(original.rstrip("\n"))
    assert parse_profile_text(updated).profile == edited


def test_an_unknown_cluster_key_is_named():
    text = dump_profile(example_profile("local-nginx")) + '\n[cluster]\nkubeadm = "v1beta3"\n'
    [problem] = parse_profile_text(text).problems
    assert problem.field == "cluster.kubeadm"


def registry_example(strategy: str):
    from wizard.paths import EXAMPLE_PROFILES_DIR

    return EXAMPLE_PROFILES_DIR / f"{strategy}.toml"


# --- on the nodes: the hosts line in, and the file given back byte for byte -------------------


def _cluster(profile):
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    for node in cluster.nodes.values():
        node.originals = True
        node.files[HOSTS] = NODE_HOSTS
    return cluster


def test_apply_adds_one_managed_line_and_uninstall_gives_the_file_back():
    profile = example_profile("local-nginx")
    cluster = _cluster(profile)
    options = ApplyOptions(verify_timeout=0.5)
    summary = run_apply(build_plan(profile), options, lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    line = f"127.0.0.1 apiserver.cluster.local  {HOSTS_MARKER}\n"
    for node in cluster.nodes.values():
        assert node.files[HOSTS] == NODE_HOSTS + line
        assert node.files[HOSTS + ORIG] == NODE_HOSTS
        assert HOSTS in next(n for n in summary.nodes if n.node == node.name).changed_files

    again = run_apply(build_plan(profile), options, lambda e: None, connector=cluster)
    assert {n.state for n in again.nodes} == {NodeState.UNCHANGED}

    moved = with_section(profile, apiserver_hostname="k8s-api.internal")
    assert run_apply(build_plan(moved), options, lambda e: None, connector=cluster).ok
    for node in cluster.nodes.values():  # the one line replaced, not a second one
        assert node.files[HOSTS] == NODE_HOSTS + line.replace(
            "apiserver.cluster.local", "k8s-api.internal"
        )

    summary = run_uninstall(build_plan(moved), ApplyOptions(), lambda e: None, connector=cluster)
    assert summary.ok, [(n.node, n.reason) for n in summary.nodes]
    for node in cluster.nodes.values():
        assert node.files[HOSTS] == NODE_HOSTS
        assert not [p for p in node.files if p.startswith(HOSTS + ".")]


def test_a_node_without_etc_hosts_gets_none_back():
    profile = example_profile("local-nginx")
    cluster = _cluster(profile)
    for node in cluster.nodes.values():
        del node.files[HOSTS]
    assert run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster
    ).ok
    node = cluster.nodes["worker1"]
    assert node.files[HOSTS] == f"127.0.0.1 apiserver.cluster.local  {HOSTS_MARKER}\n"
    assert HOSTS + ABSENT in node.files
    assert run_uninstall(build_plan(profile), ApplyOptions(), lambda e: None, connector=cluster).ok
    assert not [p for p in node.files if p.startswith(HOSTS)]
