"""built-proxy: a strategy with its own build step, as a strategy folder holds it (its section,
its install table with its check, its build, its plan): the registry test's fifth strategy.
Nothing in wizard/, screens/ or templates/ names it; it is registered by one line in
``wizard.strategies.registry.MODULES`` ("tests.support.built_proxy"), which the test adds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tests.support.built_proxy import build
from tests.support.built_proxy.install import TABLE, BuiltInstall, check_built_install
from wizard.packages import CURL
from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import Problem
from wizard.profile import Profile
from wizard.strategies.base import Card, Opener, Strategy, Table
from wizard.strategies.fields import described
from wizard.strategies.hooks import Report

KEY = "built-proxy"
SECTION = "built_proxy"
BINARY = "/opt/built-proxy/sbin/built-proxy"
UNIT_PATH = "/etc/systemd/system/built-proxy.service"
UNIT = "built-proxy.service"


@dataclass(frozen=True)
class BuiltProxy:
    port: int = described(7443, "Port", "the proxy's port")


def binary_file(data: bytes) -> RenderedFile:
    """The built binary as a file of every node's plan (a text "binary": the in-memory nodes
    keep text; local-nginx's build sends bytes)."""
    return RenderedFile(BINARY, data.decode(), "(build)", mode=0o755, service=UNIT, restart=True)


def with_binary(plan: RenderPlan, data: bytes) -> RenderPlan:
    """The plan with the binary first on every node that gets files."""
    item = binary_file(data)
    nodes = tuple(
        dataclasses.replace(node, files=(item, *node.files)) if node.files else node
        for node in plan.nodes
    )
    return dataclasses.replace(plan, nodes=nodes)


class BuiltStrategy(Strategy[BuiltProxy]):
    key = KEY
    section = SECTION
    section_type = BuiltProxy
    tables = (Table(TABLE, BuiltInstall, "Built install", check=check_built_install),)
    form_title = "Built proxy (on every node)"
    card = Card("built proxy", "built", "a build", "instantly", "in tests")
    packages = (CURL,)
    prepare_title = "the built-proxy build"
    build_pane = "built-proxy"

    def install(self, profile: Profile) -> BuiltInstall:
        return profile.table(TABLE, BuiltInstall)

    def check(self, profile: Profile) -> list[Problem]:
        return [*super().check(profile), *check_built_install(self.install(profile), profile)]

    def node_files(self, profile: Profile) -> tuple[str, ...]:
        return (BINARY, UNIT_PATH)

    def plan(self, profile: Profile) -> RenderPlan:
        settings = self.settings(profile)  # typed: a BuiltProxy
        unit = RenderedFile(
            UNIT_PATH,
            f"ExecStart={BINARY} --port {settings.port}\n",
            "(built)",
            service=UNIT,
            restart=True,
        )
        nodes = tuple(
            NodePlan(
                node.name,
                profile.role_of(node.name),
                node.address,
                (unit,),
                (UNIT,),
                (CURL,),
                f"https://127.0.0.1:{settings.port}/readyz",
            )
            for node in profile.all_nodes()
        )
        return RenderPlan(profile, nodes)

    def needs_prepare(self, profile: Profile) -> bool:
        return self.install(profile).method == "build"

    def build_source(self, profile: Profile) -> tuple[str, str]:
        return ("build", "local")

    def prepare(
        self,
        profile: Profile,
        plan: RenderPlan,
        report: Report,
        open_node: Opener,
        *,
        dry_run: bool,
        uninstall: bool,
    ) -> RenderPlan:
        """Its build first; an uninstall builds nothing and lists the binary to remove."""
        if uninstall:
            return with_binary(plan, b"")
        data = build.build(self.install(profile), report, dry_run)
        return plan if data is None else with_binary(plan, data)


STRATEGY = BuiltStrategy()
