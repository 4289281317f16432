"""Step 2, Strategy: local nginx, haproxy + keepalived and IPVS side by side, and the profile's
name. Tab and the arrows only move the focus; Enter, Space, a click or the card's number (1, 2,
3) chooses, and the chosen card is marked "● chosen". Next (ctrl+n) goes on."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from screens.base import WizardScreen
from screens.widgets.strategy_card import StrategyCard, StrategyInfo
from wizard.profile import STRATEGIES, Install

STRATEGY_INFO = (
    StrategyInfo(
        "local-nginx",
        "1 local nginx",
        "No VIP and no L2 adjacency: an nginx stream proxy on 127.0.0.1:8443 on every node. "
        "Works on any cloud or VM network.",
        "Each node's proxy skips a master whose connects fail, within seconds; "
        "no shared address to move.",
        "Cloud or routed networks, no spare IP, or when every node should keep working on its own.",
    ),
    StrategyInfo(
        "haproxy-keepalived",
        "2 haproxy + keepalived",
        "A free VIP in the nodes' subnet, VRRP between the LB nodes (unicast peers or multicast); "
        "haproxy checks /readyz.",
        "keepalived moves the VIP to another LB node in about 3 VRRP adverts; haproxy drops a "
        "master that fails /readyz.",
        "Bare metal or one L2 segment, and clients outside the cluster need one stable address.",
    ),
    StrategyInfo(
        "ipvs",
        "3 IPVS",
        "The ip_vs kernel modules and ipvsadm on every node; a virtual IP outside every node and "
        "pod network.",
        "A checker on each node removes a master that fails /readyz from the kernel's virtual "
        "server, and adds it back.",
        "Large clusters that want kernel-speed balancing with no proxy process (the sealos design).",
    ),
)


class StrategyScreen(WizardScreen):
    step = "strategy"
    show_problems = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "choose('local-nginx')", "nginx", show=False),
        Binding("2", "choose('haproxy-keepalived')", "haproxy", show=False),
        Binding("3", "choose('ipvs')", "IPVS", show=False),
        Binding("left", "move(-1)", "Previous card", show=False),
        Binding("right", "move(1)", "Next card", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        # A source or binary install set aside while another strategy is chosen (those need
        # the package method); choosing local nginx again brings it back.
        self.kept_install: Install | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            with Horizontal(id="name-row", classes="form-row"):
                yield Label("Profile name", classes="form-label")
                yield Input(self.state.profile.name, id="profile-name", compact=True)
            with Horizontal(id="cards"):
                for info in STRATEGY_INFO:
                    yield StrategyCard(info, info.key == self.state.profile.strategy)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(f"#card-{self.state.profile.strategy}", StrategyCard).focus()

    def action_choose(self, key: str) -> None:
        self.choose(key)
        self.query_one(f"#card-{key}", StrategyCard).focus()

    def action_move(self, delta: int) -> None:
        """Move the focus to the next or previous card; choosing is Enter's job."""
        focused = self.focused
        if isinstance(focused, Input):
            return
        key = focused.info.key if isinstance(focused, StrategyCard) else self.state.profile.strategy
        index = STRATEGIES.index(key)
        self.query_one(f"#card-{STRATEGIES[(index + delta) % len(STRATEGIES)]}").focus()

    @on(StrategyCard.Chosen)
    def _chosen(self, event: StrategyCard.Chosen) -> None:
        self.choose(event.key)

    def choose(self, key: str) -> None:
        profile = self.state.profile
        if profile.strategy != key:
            install = profile.install
            if key != "local-nginx" and install.method != "package":
                self.kept_install = install  # source and binary are for local nginx only
                install = dataclasses.replace(install, method="package")
            elif key == "local-nginx" and self.kept_install is not None:
                install, self.kept_install = self.kept_install, None
            self.state.profile = dataclasses.replace(profile, strategy=key, install=install)
        for card in self.query(StrategyCard):
            card.show_chosen(card.info.key == key)
        self.revalidate()

    @on(Input.Changed, "#profile-name")
    def _name_changed(self, event: Input.Changed) -> None:
        self.state.profile = dataclasses.replace(self.state.profile, name=event.value)
        self.revalidate()
