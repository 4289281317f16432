"""Helpers for the wizard's pilot and snapshot tests: fixed profiles, a steady screen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from wizard.paths import EXAMPLE_PROFILES_DIR
from wizard.profile import Profile
from wizard.profile_io import load_profile


def example(strategy: str = "local-nginx") -> Profile:
    return load_profile(EXAMPLE_PROFILES_DIR / f"{strategy}.toml")


def never_ran(name: str) -> None:
    return None


@dataclass(frozen=True)
class FakeRunRecord:
    """The fields of ``wizard.engine.runstate.RunRecord`` the Start screen reads."""

    run_id: str = "run-0001"
    finished: bool = False
    ok: bool = False
    nodes_ok: int = 2
    nodes_failed: int = 0
    log_path: Path = Path("/var/log/kubeha/run-0001.jsonl")
    started_at: str = "2025-01-01T00:00:00Z"


async def steady(pilot: Pilot) -> None:
    """Stop cursor blinking and let workers and animations finish, for stable screenshots."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for widget in pilot.app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False
    await pilot.pause()


def screen_text(app) -> str:
    """The visible text of the current screen, for assertions on what the operator reads."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(pilot: Pilot, condition, timeout: float = 5.0) -> None:
    """Pause until ``condition()`` holds, at most ``timeout`` seconds."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def widget_text(app, selector: str) -> str:
    """The visible text inside one widget's region of the current screen."""
    region = app.screen.query_one(selector).region
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    return "\n".join(line[region.x : region.right] for line in lines[region.y : region.bottom])
