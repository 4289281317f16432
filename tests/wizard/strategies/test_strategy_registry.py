"""A strategy is one object and one registration: a fourth strategy registered in the registry
(and nowhere else) is read and written in profiles, validated, shown on the wizard's cards and
form, and dispatched by the engine (prepare, waves, cluster check), verify, the drill and the
lab's profiles. A fifth, with its own build step and its own install table (as local-nginx has
its source build and ``[install]``), is a folder (tests/support/built_proxy/) and one line of the
registry's MODULES, and goes through the same layers: its table validated, written, shown on
the form; its build run before the nodes (a real program), shown in the dry run (the CLI's
too) and in its own pane of the wizard's Deploy screen, a failed build touching no node, its
built file on every node and removed by the uninstall. No lab: the engine runs on in-memory
nodes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from screens.app import make_app
from screens.balancer import sections_for
from screens.deploy import DeployScreen, build_view
from screens.node_view import NodeView
from screens.preview import PreviewScreen
from screens.state import problems_for
from screens.strategy import StrategyScreen, strategy_info
from screens.widgets.node_pane import NodePane, pane_rows
from tests.support import built_proxy
from tests.support.built_proxy import build as built_build
from tests.support.built_proxy.install import BuiltInstall
from tests.support.fake_node import FakeCluster
from wizard.cli import main
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.connector import SshConnector
from wizard.engine.drill_run import VIP_HOLDER, choose_master
from wizard.engine.events import Event, Status
from wizard.engine.model import ApplyOptions, Secrets
from wizard.engine.verify import run_verify
from wizard.example_addresses import example_address_problems
from wizard.lab import profiles as lab_profiles
from wizard.lab.state import LabState, NodeState
from wizard.packages import CURL
from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import error
from wizard.profile import Master, Profile
from wizard.profile_io import dump_profile, parse_profile_text
from wizard.render import build_plan
from wizard.strategies import registry
from wizard.strategies.base import Card, Strategy
from wizard.strategies.fields import described
from wizard.strategies.hooks import LabSite, VerifyExtras
from wizard.validation import validate

KEY = "dummy-proxy"
SECTION = "dummy_proxy"


@dataclass(frozen=True)
class DummyProxy:
    address: str = described("127.0.0.1", "Listen address", "where the proxy listens")
    port: int = described(7443, "Port", "the proxy's port")
    mode: str = described("fast", "Mode", "fast or careful", choices=("fast", "careful"))


class DummyStrategy(Strategy):
    key = KEY
    section = SECTION
    section_type = DummyProxy
    form_title = "Dummy proxy (on every node)"
    card = Card("dummy proxy", "dummy", "nothing", "instantly", "in tests")
    packages = (CURL,)
    has_vip_holder = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def check(self, profile: Profile) -> list:
        problems = super().check(profile)  # the choices of its described fields
        if self.settings(profile).port == 6443:
            problems.append(error("dummy_proxy.port", 6443, "expected another port"))
        return problems

    def plan(self, profile: Profile) -> RenderPlan:
        settings: DummyProxy = self.settings(profile)
        conf = RenderedFile(
            "/etc/dummy-proxy.conf",
            f"listen {settings.address}:{settings.port} {settings.mode}\n",
            "(dummy)",
            service="dummy-proxy.service",
        )
        nodes = tuple(
            NodePlan(
                node.name,
                profile.role_of(node.name),
                node.address,
                (conf,),
                ("dummy-proxy.service",),
                (CURL,),
                f"https://127.0.0.1:{settings.port}/readyz",
            )
            for node in profile.all_nodes()
        )
        return RenderPlan(profile, nodes)

    def addresses(self, profile: Profile) -> Iterable[tuple[str, str]]:
        yield "dummy_proxy.address", self.settings(profile).address

    def lab_section(self, site: LabSite) -> dict[str, Any]:
        return {"address": site.vrrp_vip, "port": 7443, "mode": "careful"}

    def needs_prepare(self, profile: Profile) -> bool:
        return True

    def prepare(self, profile, plan, report, open_node, *, dry_run, uninstall):
        self.calls.append("prepare")
        report("ok", "dummy prepared", progress=1.0)
        return plan

    def waves(self, plan: RenderPlan, names: list[str]) -> list[list[str]]:
        self.calls.append("waves")
        masters = [n for n in names if plan.for_node(n).role == "master"]
        return [masters, [n for n in names if n not in masters]]

    def cluster_nodes(self, profile: Profile) -> tuple[str, ...]:
        return tuple(m.name for m in profile.masters)

    def cluster_check(self, profile: Profile, nodes: Mapping[str, Any], report) -> list[str]:
        self.calls.append(f"cluster_check {','.join(sorted(nodes))}")
        for node in nodes.values():
            node.run(["dummy-check"], timeout=5)
        report("failed", "the dummy cluster is not happy")
        return ["the dummy cluster is not happy"]

    def verify_node(self, profile: Profile, name: str, node) -> VerifyExtras:
        return VerifyExtras(holds_vip=name == "m1")

    def verify_problems(self, profile: Profile, extras: Mapping[str, VerifyExtras]) -> list[str]:
        return [f"holders: {','.join(n for n, e in extras.items() if e.holds_vip)}"]


TOML = """\
schema_version = 1
name = "dummy"
strategy = "dummy-proxy"

[[masters]]
name = "m1"
address = "10.0.0.11"

[[masters]]
name = "m2"
address = "10.0.0.12"

[[masters]]
name = "m3"
address = "10.0.0.13"

[[workers]]
name = "w1"
address = "10.0.0.21"

[dummy_proxy]
address = "127.0.0.1"
port = 7444
mode = "careful"
"""


@pytest.fixture
def dummy(monkeypatch: pytest.MonkeyPatch) -> DummyStrategy:
    strategy = DummyStrategy()
    monkeypatch.setitem(registry.STRATEGIES, KEY, strategy)
    return strategy


@pytest.fixture
def profile(dummy: DummyStrategy) -> Profile:
    result = parse_profile_text(TOML)
    assert result.problems == [] and result.profile is not None
    return result.profile


def test_the_registry_is_the_one_list():
    assert registry.names() == ("local-nginx", "haproxy-keepalived", "ipvs", "local-haproxy")
    assert registry.sections() == ("local_nginx", "haproxy_keepalived", "ipvs", "local_haproxy")
    with pytest.raises(registry.UnknownStrategy, match="strategy: 'nope': expected one of"):
        registry.get("nope")


def test_a_registered_strategy_has_a_profile_section(dummy, profile):
    assert registry.names()[-1] == KEY
    assert dummy.settings(profile) == DummyProxy(port=7444, mode="careful")
    assert profile.tables[SECTION] is dummy.settings(profile)
    built = Profile(
        "x", KEY, (Master("m1", "10.0.0.11"),), tables={"dummy_proxy": DummyProxy(port=1)}
    )
    assert dummy.settings(built).port == 1 and set(built.tables) == {SECTION}
    assert registry.get("ipvs").settings(built) == registry.get("ipvs").section_type()
    edited = dataclasses.replace(
        profile, tables={**profile.tables, "dummy_proxy": DummyProxy(port=2)}
    )
    assert dummy.settings(edited).port == 2 and edited.masters == profile.masters
    # written back the same, and its keys are checked like any section's
    assert parse_profile_text(dump_profile(profile)).profile == profile
    bad = parse_profile_text(TOML + "bogus = 1\n")
    assert [p.field for p in bad.problems] == ["dummy_proxy.bogus"]


def test_validation_asks_the_strategy(dummy, profile):
    assert [p for p in validate(profile) if p.is_error] == []
    wrong = dataclasses.replace(
        profile, tables={**profile.tables, "dummy_proxy": DummyProxy(port=6443, mode="slow")}
    )
    errors = {p.field: p for p in validate(wrong) if p.is_error}
    assert errors["dummy_proxy.mode"].expected == "expected one of fast, careful"
    assert "dummy_proxy.port" in errors
    unknown = dataclasses.replace(profile, strategy="nope")
    [problem] = [p for p in validate(unknown) if p.field == "strategy"]
    assert problem.expected.endswith("ipvs, local-haproxy, dummy-proxy")


def test_the_wizard_shows_its_card_its_form_and_its_problems(dummy, profile):
    card = strategy_info()[-1]
    assert (card.key, card.title, card.pick) == (KEY, "5 dummy proxy", "in tests")
    [(title, specs), health, cluster] = sections_for(KEY)
    assert title == "Dummy proxy (on every node)" and health[0] == "Health check"
    assert [s.path for s in cluster[1]] == ["cluster.kubeadm_api"]
    assert [(s.path, s.label, s.kind) for s in specs] == [
        ("dummy_proxy.address", "Listen address", "str"),
        ("dummy_proxy.port", "Port", "int"),
        ("dummy_proxy.mode", "Mode", "choice"),
    ]
    assert specs[2].choices == ("fast", "careful")
    wrong = dataclasses.replace(
        profile, tables={**profile.tables, "dummy_proxy": DummyProxy(mode="slow")}
    )
    assert [p.field for p in problems_for(validate(wrong), "balancer")] == ["dummy_proxy.mode"]
    # the number keys are bound when the screen's class is made: the built-in strategies
    assert [b.key for b in StrategyScreen.BINDINGS[:3]] == ["1", "2", "3"]


def test_the_engine_dispatches_prepare_waves_and_the_cluster_check(dummy, profile):
    cluster = FakeCluster([n.name for n in profile.all_nodes()])
    events: list[Event] = []
    summary = run_apply(
        build_plan(profile), ApplyOptions(verify_timeout=0.5), events.append, connector=cluster
    )
    assert all(n.ok for n in summary.nodes), summary
    assert dummy.calls == ["prepare", "waves", "cluster_check m1,m2,m3"]
    assert summary.cluster_problems == ("the dummy cluster is not happy",)
    assert any(e.phase == "build" and e.message == "dummy prepared" for e in events)
    assert any(e.phase == "verify" and e.status is Status.FAILED and e.node is None for e in events)
    assert "dummy-check" in cluster.nodes["m2"].log and "dummy-check" not in cluster.nodes["w1"].log
    assert "listen 127.0.0.1:7444 careful" in cluster.nodes["w1"].files["/etc/dummy-proxy.conf"]


def test_verify_the_drill_and_the_guards_ask_the_strategy(dummy, profile):
    report = run_verify(profile, opener=FakeCluster([n.name for n in profile.all_nodes()]))
    assert {c.node: c.holds_vip for c in report.nodes}["m1"] is True
    assert report.problems == ("holders: m1",)
    assert choose_master(profile, VIP_HOLDER) == VIP_HOLDER
    documentation = dataclasses.replace(
        profile, tables={**profile.tables, "dummy_proxy": DummyProxy(address="192.0.2.9")}
    )
    assert any(
        line.startswith("dummy_proxy.address: 192.0.2.9")
        for line in example_address_problems(documentation)
    )


def test_the_lab_writes_a_profile_for_it(dummy, tmp_path):
    state = LabState(1, 1, 0, rootfs="/r", bridge_netns="kubeha-lab")
    state.nodes.append(
        NodeState("m1", "master", "10.77.0.11", "127.0.0.1", 2211, "n1", merged="/m")
    )
    state.nodes.append(
        NodeState("w1", "worker", "10.77.0.21", "127.0.0.1", 2221, "n2", merged="/m")
    )
    written = lab_profiles.write_profiles(state, tmp_path)
    assert [p.name for p in written][-1] == "lab-dummy-proxy.toml"
    data = lab_profiles.build_profile(state, KEY)
    assert data[SECTION] == {"address": "10.77.0.100", "port": 7443, "mode": "careful"}
    read = parse_profile_text(written[-1].read_text()).profile
    assert read is not None and dummy.settings(read).mode == "careful"


# --- a fifth strategy with its own build step ------------------------------------------------
# A strategy folder (tests/support/built_proxy/: its section, its install table with its check, its
# build, its plan) and one line in the registry's MODULES: no product file names it.

BUILT_MODULE = "tests.support.built_proxy"
BUILT_KEY = built_proxy.KEY
BUILT_TABLE = "built_install"
BUILT_BINARY = built_proxy.BINARY
BUILT_UNIT = built_proxy.UNIT_PATH
PRODUCT = Path(__file__).resolve().parents[3]
NODES = ("m1", "m2", "m3", "w1")


BUILT_TOML = TOML.replace('strategy = "dummy-proxy"', f'strategy = "{BUILT_KEY}"').replace(
    '[dummy_proxy]\naddress = "127.0.0.1"\nport = 7444\nmode = "careful"\n',
    '[built_proxy]\nport = 7445\n\n[built_install]\nmethod = "build"\nversion = "2.5"\n',
)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Strategy[Any]:
    """The registry with its one line more, loaded the registry's own way."""
    monkeypatch.setattr(registry, "MODULES", (*registry.MODULES, BUILT_MODULE))
    monkeypatch.setattr(registry, "STRATEGIES", registry.loaded(registry.MODULES))
    monkeypatch.setattr(built_build, "BUILT", [])
    return registry.get(BUILT_KEY)


@pytest.fixture
def built_profile(built: Strategy[Any]) -> Profile:
    result = parse_profile_text(BUILT_TOML)
    assert result.problems == [] and result.profile is not None
    return result.profile


def with_install(profile: Profile, **changes: str) -> Profile:
    install = dataclasses.replace(profile.table(BUILT_TABLE, BuiltInstall), **changes)
    return profile.with_table(BUILT_TABLE, install)


def lines(events: list[Event]) -> str:
    return "\n".join(f"{e.phase} {e.node} {e.status} {e.message} {e.lines}" for e in events)


def test_a_strategy_with_its_own_build_is_its_folder_and_one_registry_line(built):
    assert registry.MODULES[-1] == BUILT_MODULE and registry.names()[-1] == BUILT_KEY
    folder = Path(built_proxy.__file__).parent
    assert (
        Path(built_build.__file__).parent == folder
        and folder.parent == PRODUCT / "tests" / "support"
    )
    for top in ("wizard", "screens", "templates"):  # no product file names it
        for path in (PRODUCT / top).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".j2", ".tcss"):
                text = path.read_text(errors="replace")
                assert "built-proxy" not in text and "built_proxy" not in text, path


def test_a_strategy_with_its_own_build_is_read_written_and_validated(built, built_profile):
    assert built.settings(built_profile) == built_proxy.BuiltProxy(port=7445)
    assert built.install(built_profile) == BuiltInstall(method="build", version="2.5")
    assert parse_profile_text(dump_profile(built_profile)).profile == built_profile
    assert "[built_install]" in dump_profile(built_profile)
    assert [p for p in validate(built_profile) if p.is_error] == []
    wrong = with_install(built_profile, method="make", version="x")
    errors = {p.field for p in validate(wrong) if p.is_error}
    assert errors >= {"built_install.method", "built_install.version"}
    # another strategy chosen in the file: the table is set aside as written (not used, said,
    # written back as it is)
    text = dump_profile(wrong).replace(f'strategy = "{BUILT_KEY}"', 'strategy = "local-nginx"')
    other = parse_profile_text(text).profile
    assert other is not None and set(other.set_aside) == {"built_install", built_proxy.SECTION}
    assert not other.tables and "[built_install]" in dump_profile(other)
    said = {p.field for p in validate(other) if not p.is_error}
    assert {"built_install", built_proxy.SECTION} <= said
    assert parse_profile_text(dump_profile(other)).profile == other


def test_a_strategy_with_its_own_build_is_carded_and_formed(built, built_profile):
    card = strategy_info()[-1]
    assert (card.key, card.title) == (BUILT_KEY, "5 built proxy")
    headings = [title for title, _ in sections_for(BUILT_KEY)]
    assert headings == [
        "Built proxy (on every node)",
        "Health check",
        "Cluster (kubeadm)",
        "Built install",
    ]
    [(_, rows)] = [s for s in sections_for(BUILT_KEY) if s[0] == "Built install"]
    assert [(r.path, r.kind) for r in rows] == [
        ("built_install.method", "choice"),
        ("built_install.version", "str"),
        ("built_install.flags", "str"),
    ]
    wrong = with_install(built_profile, version="x")
    assert [p.field for p in problems_for(validate(wrong), "balancer")] == ["built_install.version"]
    view = build_view(built_profile)
    assert view is not None and (view.node, view.role, view.address) == (
        "built-proxy",
        "build",
        "local",
    )
    # its pane grows with the build's output, whatever word the strategy gives its role
    view.lines.extend(f"cc part{i}.c" for i in range(5))
    assert pane_rows(dataclasses.replace(view, role="compile")) == 6
    assert pane_rows(NodeView("w1", "worker", "10.0.0.21", lines=view.lines)) == 3
    assert build_view(with_install(built_profile, method="package")) is None


def test_a_strategy_with_its_own_build_is_rendered_applied_with_its_build_and_verified(
    built, built_profile
):
    plan = build_plan(built_profile)
    assert [f.path for f in plan.for_node("w1").files] == [BUILT_UNIT]  # the build adds its binary
    cluster = FakeCluster(NODES)
    events: list[Event] = []
    summary = run_apply(plan, ApplyOptions(verify_timeout=0.5), events.append, connector=cluster)
    assert all(n.ok for n in summary.nodes), lines(events)
    assert built_build.BUILT == ["2.5"]  # built once, before the nodes
    build_events = [e for e in events if e.phase == "build"]
    assert [e.message for e in build_events][-1] == "built built-proxy 2.5 on local"
    first_node_event = next(i for i, e in enumerate(events) if e.node is not None)
    assert events.index(build_events[-1]) < first_node_event
    for node in cluster.nodes.values():
        assert node.files[BUILT_BINARY] == "#!built-proxy 2.5\n"
        assert "--port 7445" in node.files[BUILT_UNIT]
    report = run_verify(built_profile, opener=FakeCluster(NODES))
    assert {c.node for c in report.nodes} == set(NODES)


def test_its_dry_run_says_what_it_would_build_and_builds_nothing(built, built_profile):
    cluster = FakeCluster(NODES)
    events: list[Event] = []
    summary = run_apply(
        build_plan(built_profile), ApplyOptions(dry_run=True), events.append, connector=cluster
    )
    assert all(n.ok for n in summary.nodes), lines(events)
    assert built_build.BUILT == []
    said = [e.message for e in events if e.phase == "build"]
    assert "would build built-proxy 2.5 on local" in said
    first_node_event = next(i for i, e in enumerate(events) if e.node is not None)
    assert max(i for i, e in enumerate(events) if e.phase == "build") < first_node_event
    assert all(BUILT_BINARY not in n.files for n in cluster.nodes.values())


def test_the_cli_dry_run_shows_its_build(built, tmp_path, monkeypatch, capsys):
    path = tmp_path / "built.toml"
    path.write_text(BUILT_TOML)
    cluster = FakeCluster(NODES)
    monkeypatch.setattr(SshConnector, "__call__", lambda self, name: cluster(name))
    monkeypatch.setattr("wizard.engine.secrets_input.collect", lambda *a, **k: Secrets())
    assert main(["apply", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    [line] = [ln for ln in out.splitlines() if "would build built-proxy 2.5" in ln]
    assert line.split()[:2] == ["*", "build"], out
    assert f"{BUILT_UNIT}" in out and built_build.BUILT == []


def test_a_failed_build_touches_no_node_and_says_so(built, built_profile):
    broken = with_install(built_profile, flags="--broken")
    cluster = FakeCluster(NODES)
    events: list[Event] = []
    summary = run_apply(build_plan(broken), ApplyOptions(), events.append, connector=cluster)
    assert {n.state.value for n in summary.nodes} == {"untouched"}, lines(events)
    [failed] = [e for e in events if e.phase == "build" and e.status is Status.FAILED]
    assert failed.message == "make failed on local (exit 2)"
    assert failed.lines == ("proxy.c:1: error: broken on purpose",)
    [result] = {n.reason for n in summary.nodes}
    assert result.startswith("not started: the built-proxy build failed (make failed")
    ending = [e.message for e in events if e.node is None and e.phase == "run"][-1]
    assert (
        ending.startswith("built-proxy build failed: make failed")
        and "no node was touched" in ending
    )
    assert all(node.log == [] for node in cluster.nodes.values())  # not even connected


def test_its_uninstall_removes_the_built_binary_and_builds_nothing(built, built_profile):
    cluster = FakeCluster(NODES)
    for node in cluster.nodes.values():
        node.originals = True
    plan = build_plan(built_profile)
    assert run_apply(plan, ApplyOptions(verify_timeout=0.5), lambda e: None, connector=cluster).ok
    events: list[Event] = []
    summary = run_uninstall(plan, ApplyOptions(), events.append, connector=cluster)
    assert summary.ok, lines(events)
    assert built_build.BUILT == ["2.5"]  # the apply's build only
    for node in cluster.nodes.values():
        assert BUILT_BINARY not in node.files and BUILT_UNIT not in node.files


def real_engine(cluster: FakeCluster):
    """The wizard's engine: the real run on in-memory nodes."""

    def engine(plan, options, sink, cancel=None, secrets=None):
        return run_apply(plan, options, sink, cancel=cancel, connector=cluster)

    engine.connects = False  # type: ignore[attr-defined]  # nothing leaves this process
    return engine


async def deploy(profile: Profile) -> tuple[list[NodePane], str]:
    app = make_app(profile=profile, engine=real_engine(FakeCluster(NODES)))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("ctrl+n", "y")
        assert isinstance(app.screen, DeployScreen)
        for _ in range(400):
            if app.screen.finished:
                break
            await pilot.pause(0.05)
        panes = list(app.screen.query(NodePane))
        return panes, str(app.screen.query_one("#deploy-summary").render())


def test_the_wizard_deploys_it_with_its_build_in_its_own_pane(built, built_profile):
    panes, summary = asyncio.run(deploy(built_profile))
    assert panes[0].view.node == "built-proxy" and panes[0].view.address == "local"
    assert panes[0].view.finished and not panes[0].view.failed
    assert panes[0].view.message == "built built-proxy 2.5 on local"
    assert [p.view.node for p in panes[1:]] == list(NODES)
    assert "Finished: 4 of 4 node(s) ok" in summary, summary
    assert built_build.BUILT == ["2.5"]


def test_the_wizard_shows_its_failed_build_and_no_node_runs(built, built_profile):
    panes, summary = asyncio.run(deploy(with_install(built_profile, flags="--broken")))
    assert panes[0].view.failed and "proxy.c:1: error: broken on purpose" in panes[0].view.lines
    assert all(p.view.status == "untouched" for p in panes[1:])
    assert "0 of 4" in summary or "4 failed" in summary, summary


async def preview_dry_run(profile: Profile) -> tuple[str, dict[str, Any]]:
    app = make_app(profile=profile, engine=real_engine(FakeCluster(NODES)))
    async with app.run_test(size=(100, 40)) as pilot:
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("d")
        for _ in range(400):
            if app.state.dry_run:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        return str(app.screen.query_one("#preview-status").render()), dict(app.state.dry_run)


def test_the_wizards_preview_dry_runs_it_through_its_build(built, built_profile):
    status, results = asyncio.run(preview_dry_run(built_profile))
    assert "Dry run done" in status, status
    assert set(results) == set(NODES) and built_build.BUILT == []
