"""Start, Preview, SSH, Deploy and Summary driven by keys against a scripted engine."""

from __future__ import annotations

import dataclasses

from textual.widgets import DataTable, Input, Tree

from screens.app import make_app
from screens.deploy import DeployScreen
from screens.preview import CLUSTER, FileRef, PreviewScreen
from screens.summary import SummaryScreen
from tests.support.screen_fakes import FakeEngine
from tests.support.screen_helpers import FakeRunRecord, example, never_ran
from wizard.engine.model import NodeState
from wizard.paths import user_profiles_dir
from wizard.profile_io import load_profile, save_profile
from wizard.render import build_plan


async def _wait(pilot, condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def test_resume_loads_a_saved_profile() -> None:
    mine = dataclasses.replace(example("ipvs"), name="mine")
    save_profile(mine, user_profiles_dir() / "mine.toml")
    app = make_app(last_run=never_ran)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#profiles", DataTable)
        assert str(table.get_row_at(1)[0]) == "mine"  # the operator's own come first
        await pilot.press("down", "enter")
        assert isinstance(app.screen, PreviewScreen)
        assert app.state.profile == mine
        assert app.state.saved_to == user_profiles_dir() / "mine.toml"


async def test_interrupted_install_is_offered_and_resumed() -> None:
    engine = FakeEngine()
    app = make_app(
        engine=engine,
        last_run=lambda name: FakeRunRecord() if name == "example-ipvs" else None,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        assert "example-ipvs" in str(app.screen.query_one("#interrupted").render())
        await pilot.press("r")
        assert isinstance(app.screen, PreviewScreen)
        assert app.state.profile.name == "example-ipvs" and app.state.resume
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.state.summary is not None)
        assert engine.calls[-1].resume


async def test_preview_shows_every_file_of_every_node() -> None:
    profile = example("haproxy-keepalived")
    app = make_app(profile=profile, engine=FakeEngine())
    async with app.run_test(size=(80, 24)):
        tree = app.screen.query_one("#plan-tree", Tree)
        shown = set()
        for branch in tree.root.children:
            for leaf in branch.children:
                assert isinstance(leaf.data, FileRef)
                shown.add((leaf.data.node, leaf.data.file.path))
        plan = build_plan(profile)
        expected = {(n.node, f.path) for n in plan.nodes for f in n.files}
        expected |= {(CLUSTER, f.path) for f in plan.snippets}
        assert shown == expected
        assert len(tree.root.children) == len(plan.nodes) + 1


async def test_preview_dry_run_shows_diffs_and_saves() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await _wait(pilot, lambda: bool(app.state.dry_run))
        assert engine.calls[-1].dry_run
        assert all(r.state is NodeState.PLANNED for r in app.state.dry_run.values())
        screen = app.screen
        assert isinstance(screen, PreviewScreen) and screen.show_diff
        await pilot.press("s")
        saved = user_profiles_dir() / "example-local-nginx.toml"
        assert load_profile(saved) == example("local-nginx")


async def test_the_plan_preview_shows_is_the_plan_the_engine_applies() -> None:
    """One plan per profile: the dry run and the deploy hand the engine the very object that
    Preview rendered and shows, not a plan of their own."""
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        preview = app.screen
        assert isinstance(preview, PreviewScreen) and preview.plan is not None
        await pilot.press("d")
        await _wait(pilot, lambda: bool(app.state.dry_run))
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.state.summary is not None)
        assert len(engine.plans) == 2
        assert all(plan is preview.plan for plan in engine.plans)


async def test_passphrase_is_never_saved_but_reaches_the_engine() -> None:
    engine = FakeEngine()
    app = make_app(profile=example("local-nginx"), engine=engine, initial_step="ssh")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#f-passphrase", Input).focus()
        await pilot.press(*"s3cret-pass")
        app.screen.query_one("#f-sudo-password", Input).focus()
        await pilot.press(*"sudo-pw")
        await pilot.press("ctrl+n", "ctrl+n")  # to Clients, to Preview
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("s")
        await pilot.press("ctrl+n", "y")  # Deploy, confirmed
        await _wait(pilot, lambda: app.state.summary is not None)
    text = (user_profiles_dir() / "example-local-nginx.toml").read_text()
    assert "s3cret-pass" not in text and "sudo-pw" not in text
    assert engine.secrets_seen[-1].passphrase == "s3cret-pass"
    assert engine.secrets_seen[-1].sudo_password == "sudo-pw"


async def test_deploy_reaches_summary_with_every_node_verified() -> None:
    profile = example("local-nginx")
    app = make_app(profile=profile, engine=FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "y")
        assert isinstance(app.screen, DeployScreen)
        await _wait(pilot, lambda: app.screen.finished)
        assert "Finished: 5 of 5 node(s) ok" in str(
            app.screen.query_one("#deploy-summary").render()
        )
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SummaryScreen)
        table = app.screen.query_one("#results", DataTable)
        assert table.row_count == len(profile.all_nodes())
        states = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert states == ["✓ verified"] * len(profile.all_nodes())
        assert "run-0001.jsonl" in str(app.screen.query_one("#log-path").render())


async def test_failed_node_stands_out_and_retry_runs_only_it() -> None:
    engine = FakeEngine(fail={"worker1": "nginx -t failed"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.screen.finished)
        assert app.screen.query_one("#pane-worker1").has_class("-failed")
        assert not app.screen.query_one("#pane-master1").has_class("-failed")
        await pilot.press("ctrl+n", "r", "y")
        await _wait(pilot, lambda: len(engine.calls) == 2 and app.screen.finished)
        assert engine.calls[-1].only == ("worker1",)
        assert list(app.screen.views) == ["worker1"]


async def test_cancel_mid_deploy_sets_the_event_and_reports_untouched_nodes() -> None:
    engine = FakeEngine(wait_for_cancel_after=2)
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, engine.waiting.is_set)
        await pilot.press("escape", "y")  # Escape asks; y cancels
        await _wait(pilot, lambda: app.screen.finished)
        assert engine.cancel_seen.is_set()
        assert app.state.cancelled
        await pilot.press("ctrl+n")
        table = app.screen.query_one("#results", DataTable)
        states = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert states[:2] == ["✓ verified", "✓ verified"]
        assert set(states[2:]) <= {"✗ cancelled", "✗ untouched"} and states[2:]
        assert "Cancelled" in str(app.screen.query_one("#summary-head").render())


async def test_host_key_modal_answers_reach_the_engine() -> None:
    engine = FakeEngine(host_keys=("master1", "master2"))
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.screen.__class__.__name__ == "HostKeyModal")
        assert "SHA256:fake+master1" in str(app.screen.query_one("#hostkey-fingerprint").render())
        await pilot.press("y")
        await _wait(pilot, lambda: app.screen.__class__.__name__ == "HostKeyModal")
        await pilot.press("n")
        await _wait(pilot, lambda: isinstance(app.screen, DeployScreen) and app.screen.finished)
        assert engine.answers == {"master1": True, "master2": False}
        assert app.screen.query_one("#pane-master2").has_class("-failed")


async def test_leaving_the_app_mid_run_cancels_the_engine() -> None:
    engine = FakeEngine(wait_for_cancel_after=1)
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, engine.waiting.is_set)
    assert engine.cancel_seen.wait(5)


async def test_summary_verifies_through_every_node_and_names_the_failed_one() -> None:
    engine = FakeEngine(fail={"worker1": "nginx -t failed"})
    app = make_app(profile=example("local-nginx"), engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+n", "y")
        await _wait(pilot, lambda: app.screen.finished)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SummaryScreen)
        table = app.screen.query_one("#verify", DataTable)
        await _wait(pilot, lambda: table.row_count == 5)
        rows = {str(c[0]): [str(x) for x in c] for c in map(table.get_row_at, range(5))}
        assert rows["master1"][1:3] == ["ok", "200"] and rows["master1"][4] == "master1"
        assert rows["worker1"][1:3] == ["FAILED", "curl exit 7"]
        head = str(app.screen.query_one("#verify-head").render())
        assert "failed on worker1" in head


async def test_an_injected_engine_without_verify_never_gets_the_real_verifier() -> None:
    """The real verifier would SSH to the profile's addresses; a test's engine must not."""

    def engine(*args, **kwargs):
        raise AssertionError("not run")

    app = make_app(profile=example("local-nginx"), engine=engine)
    assert app.verifier is None
