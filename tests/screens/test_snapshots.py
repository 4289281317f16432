"""How every step looks, at 80x24 (an SSH session) and 120x40; fixed profiles, no clocks.

Update after an intended change with ``pytest tests/screens --snapshot-update`` and review the
SVGs under ``tests/screens/__snapshots__/``.
"""

from __future__ import annotations

import pytest

from screens.app import make_app
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, never_ran, steady

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _finished(*keys: str):
    async def run(pilot) -> None:
        await pilot.press("ctrl+n", "y")
        for _ in range(100):
            if getattr(pilot.app.screen, "finished", False):
                break
            await pilot.pause(0.05)
        if keys:
            await pilot.press(*keys)
        await steady(pilot)

    return run


@pytest.mark.parametrize("size", SIZES)
def test_start(snap_compare, size) -> None:
    assert snap_compare(make_app(last_run=never_ran), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_strategy(snap_compare, size) -> None:
    app = make_app(profile=example("haproxy-keepalived"), initial_step="strategy")
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_balancer(snap_compare, size) -> None:
    app = make_app(profile=example("haproxy-keepalived"), initial_step="balancer")
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_ssh(snap_compare, size) -> None:
    app = make_app(profile=example("local-nginx"), initial_step="ssh")
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_clients(snap_compare, size) -> None:
    app = make_app(profile=example("local-nginx"), initial_step="clients")
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_preview(snap_compare, size) -> None:
    app = make_app(profile=example("local-nginx"))
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_deploy_finished_with_a_failure(snap_compare, size) -> None:
    engine = FakeEngine(fail={"worker1": "nginx -t: unknown directive"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    assert snap_compare(app, terminal_size=size, run_before=_finished())


@pytest.mark.parametrize("size", SIZES)
def test_summary(snap_compare, size) -> None:
    engine = FakeEngine(fail={"worker1": "nginx -t: unknown directive"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    assert snap_compare(app, terminal_size=size, run_before=_finished("ctrl+n"))
