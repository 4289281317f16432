"""Which screen class shows which step."""

from __future__ import annotations

from textual.screen import Screen

from screens.balancer import BalancerScreen
from screens.deploy import DeployScreen
from screens.nodes import NodesScreen
from screens.preview import PreviewScreen
from screens.ssh import SshScreen
from screens.start import StartScreen
from screens.strategy import StrategyScreen
from screens.summary import SummaryScreen

SCREENS: dict[str, type[Screen]] = {
    "start": StartScreen,
    "strategy": StrategyScreen,
    "nodes": NodesScreen,
    "balancer": BalancerScreen,
    "ssh": SshScreen,
    "preview": PreviewScreen,
    "deploy": DeployScreen,
    "summary": SummaryScreen,
}
