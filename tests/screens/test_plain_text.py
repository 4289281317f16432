"""Profile and node text is shown as typed, never read as Rich markup; the header names the
profile and its strategy on every step after Strategy."""

from __future__ import annotations

import dataclasses

from screens.app import make_app
from screens.summary import SummaryScreen
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import example, never_ran, screen_text, wait_for

BRACKETS = "root@[localhost]:1"
CLOSING = "bad [/] tag [b]"


@dataclasses.dataclass
class BracketEngine(FakeEngine):
    """Fails worker1 with a reason full of brackets; verify reports a bracketed detail."""

    def verify(self, profile, options, secrets=None):
        report = super().verify(profile, options, secrets)
        checks = tuple(dataclasses.replace(c, detail=BRACKETS) for c in report.nodes)
        return dataclasses.replace(report, nodes=checks)


async def test_summary_and_verify_tables_show_brackets_as_typed() -> None:
    engine = BracketEngine(fail={"worker1": f"ssh {BRACKETS} refused, {CLOSING}"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("ctrl+n", "y")  # deploy, confirmed
        await wait_for(pilot, lambda: getattr(app.screen, "finished", False))
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SummaryScreen)
        await wait_for(pilot, lambda: app.screen.query_one("#verify").row_count == 5)
        await pilot.pause()
        text = screen_text(app)
        assert f"ssh {BRACKETS} refused, {CLOSING}" in text  # the results table
        assert text.count(BRACKETS) >= 6  # and every verify row's detail


async def test_a_profile_name_with_brackets_lists_as_typed() -> None:
    from wizard.paths import user_profiles_dir
    from wizard.profile_io import save_profile

    path = user_profiles_dir() / "odd.toml"
    save_profile(dataclasses.replace(example("ipvs"), name="[b]odd"), path)
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        assert "[b]odd" in screen_text(app)


async def test_the_header_names_the_profile_and_strategy_after_the_strategy_step() -> None:
    profile = dataclasses.replace(example("haproxy-keepalived"), name="prod-eu")
    app = make_app(profile=profile, initial_step="strategy")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n")
        assert app.screen.step == "nodes"
        assert "prod-eu · haproxy-keepalived" in screen_text(app)
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")
        assert app.screen.step == "preview"
        assert "prod-eu · haproxy-keepalived" in screen_text(app)
