"""Step 2, Strategy: the registered strategies side by side (local nginx, haproxy + keepalived,
IPVS), and the profile's name. Tab and the arrows only move the focus; Enter, Space, a click or
the card's number (1, 2, ...) chooses, and the chosen card is marked "● chosen". Next (ctrl+n)
goes on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Label

from screens.base import WizardScreen
from screens.widgets.strategy_card import StrategyCard, StrategyInfo
from wizard.strategies import registry


def strategy_info() -> tuple[StrategyInfo, ...]:
    """One card per registered strategy, numbered in the registry's order."""
    return tuple(
        StrategyInfo(
            s.key,
            f"{number} {s.card.title}",
            s.card.needs,
            s.card.failover,
            s.card.pick,
        )
        for number, s in enumerate(registry.strategies(), 1)
    )


class StrategyScreen(WizardScreen):
    show_problems = True

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(number), f"choose({s.key!r})", s.card.short, show=False)
            for number, s in enumerate(registry.strategies(), 1)
        ),
        Binding("left", "move(-1)", "Previous card", show=False),
        Binding("right", "move(1)", "Next card", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()

    def compose_body(self) -> ComposeResult:
        with Vertical(id="body"):
            with Horizontal(id="name-row", classes="form-row"):
                yield Label("Profile name", classes="form-label")
                yield Input(self.state.profile.name, id="profile-name", compact=True)
            with Horizontal(id="cards"):
                for info in strategy_info():
                    yield StrategyCard(info, info.key == self.state.profile.strategy)

    def on_mount(self) -> None:
        super().on_mount()
        self.card_of(self.state.profile.strategy).focus()

    def card_of(self, key: str) -> StrategyCard:
        """The card of strategy ``key``; the first card for a key no strategy has (a profile's
        typo such as ``local_nginx``, shown as a problem until a card is chosen)."""
        keys = registry.names()
        return self.query_one(f"#card-{key if key in keys else keys[0]}", StrategyCard)

    def marked_fields(self) -> Iterator[tuple[tuple[str, ...], Widget, str | None]]:
        yield ("name",), self.query_one("#name-row"), "Profile name"
        for card in self.query(StrategyCard):
            yield ("strategy",), card, None  # no card chosen: each says "○ … choose"

    def action_choose(self, key: str) -> None:
        self.choose(key)
        self.query_one(f"#card-{key}", StrategyCard).focus()

    def action_move(self, delta: int) -> None:
        """Move the focus to the next or previous card; choosing is Enter's job."""
        focused = self.focused
        if isinstance(focused, Input):
            return
        key = focused.info.key if isinstance(focused, StrategyCard) else self.state.profile.strategy
        keys = registry.names()
        index = keys.index(key) if key in keys else -delta  # an unknown key: from the first
        self.query_one(f"#card-{keys[(index + delta) % len(keys)]}").focus()

    @on(StrategyCard.Chosen)
    def _chosen(self, event: StrategyCard.Chosen) -> None:
        self.choose(event.key)

    def choose(self, key: str) -> None:
        if self.state.profile.strategy != key:
            # What was typed for the strategy left (local-nginx's install too) is kept for the
            # session and comes back when it is chosen again.
            self.state.choose_strategy(key)
        for card in self.query(StrategyCard):
            card.show_chosen(card.info.key == key)
        self.revalidate()

    @on(Input.Changed, "#profile-name")
    def _name_changed(self, event: Input.Changed) -> None:
        self.state.profile = dataclasses.replace(self.state.profile, name=event.value)
        self.revalidate()
