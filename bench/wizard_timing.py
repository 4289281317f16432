"""The wizard's speed, headless, each figure beside a bare Textual app measured in the same run
(so a busy machine slows both and the difference or ratio stays meaningful):

- first screen: ``kubeha`` (the CLI, imports included) to the Start screen painted, against a
  bare App with one Static, in fresh interpreters, interleaved; in a true-colour terminal, and
  again with 16 colours (where the wizard switches to an ANSI theme);
- step switch: Strategy → Preview and back and forth, each from the call to the paint;
- a deploy of 200 nodes whose scripted engine streams ~1200 events/s: how many times the screen
  applied events, how far behind the engine it ended, key presses during the stream, the event
  loop's worst stall, the widgets mounted, then keypress-to-paint (Tab and scrolling) on the
  finished screen against Tab on the bare app.

``python -m bench.wizard_timing [PRESSES] [ROUNDS]`` prints one JSON line; :func:`measure` runs
it from the bench. ``--child SCENARIO`` runs one scenario in this interpreter.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODES = 200
SIZE = (160, 50)


def _ms(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)}


# Children -------------------------------------------------------------------------------------


def first_screen(kind: str) -> float:
    """Epoch time of the first paint of the Start screen (kubeha) or of a bare App."""
    import textual.app

    painted: list[float] = []
    original_run = textual.app.App.run

    def run(self, **_: object):
        shown = self._display

        def display(screen, renderable) -> None:
            shown(screen, renderable)
            # kubeha's first paint may be the App's default Screen, before Start is pushed
            ours = kind == "bare" or type(screen).__name__ != "Screen"
            if renderable is not None and not painted and ours:
                painted.append(time.time())
                self.exit()

        self._display = display
        return original_run(self, headless=True, size=SIZE)

    textual.app.App.run = run  # type: ignore[method-assign]
    if kind == "bare":
        from textual.widgets import Static

        class Bare(textual.app.App):
            def compose(self):
                yield Static("kubeha")

        Bare().run()
    else:
        import wizard.commands.wizard_command as command

        command.has_terminal = lambda: True  # headless here: no terminal, on purpose
        from wizard.cli import main

        main([])
    return painted[0]


async def bare_keys(presses: int) -> list[float]:
    """Tab between two buttons of a bare App: the floor for keypress-to-paint."""
    from textual.app import App
    from textual.widgets import Button, Static

    from bench.wizard_probe import Paints, press_to_paint

    class Bare(App):
        def compose(self):
            yield Static("kubeha")
            yield Button("Back", id="a")
            yield Button("Next", id="b")

    app = Bare()
    samples = []
    async with app.run_test(size=SIZE) as pilot:
        paints = Paints(app)
        await pilot.pause()
        for _ in range(presses):
            before = app.focused
            samples.append(
                await press_to_paint(app, paints, "tab", lambda b=before: app.focused is not b)
            )
            await asyncio.sleep(0.02)
    return samples


async def deploy(presses: int) -> dict:
    from bench.wizard_probe import LoopProbe, PacedEngine, Paints, many_node_profile, press_to_paint
    from screens.app import make_app
    from screens.engine_bridge import EngineBridge

    drains = 0
    drain = EngineBridge.drain

    def counted(self):
        nonlocal drains
        drains += 1
        return drain(self)

    EngineBridge.drain = counted  # type: ignore[method-assign]
    engine = PacedEngine()
    app = make_app(profile=many_node_profile(NODES), engine=engine, initial_step="preview")
    result: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        paints = Paints(app)
        await pilot.pause()
        app.state.only = ()
        probe = LoopProbe()
        probe.start()
        began = time.perf_counter()
        app.call_later(app.goto, "deploy")
        opened = await paints.until(lambda: getattr(app.screen, "step", "") == "deploy")
        result["deploy_open_ms"] = round((opened - began) * 1000, 1)
        screen = app.screen
        finished = paints.watch(lambda: screen.finished)
        panes = screen.query_one("#panes")
        panes.focus()
        await pilot.pause()  # the focus has moved before the first key
        during: list[float] = []
        while not engine.returned and len(during) < presses:
            before = panes.scroll_y
            during.append(
                await press_to_paint(
                    app,
                    paints,
                    "down",
                    lambda b=before: panes.scroll_y != b or bool(engine.returned),
                )
            )
            await asyncio.sleep(0.05)
        while not finished:
            await asyncio.sleep(0.005)
        seen = finished[0]
        probe.stop()
        result.update(
            events=engine.events,
            stream_s=round(engine.returned - engine.began, 2),
            applies=drains,
            behind_ms=round((seen - engine.returned) * 1000, 1),
            loop_stall_max_ms=round(probe.worst_ms, 1),
            stream_keypress_ms=_ms(during) if during else None,
            widgets=len(list(screen.walk_children(with_self=True))),
        )
        after: list[float] = []
        for index in range(presses):
            if index % 2:
                before = app.focused
                after.append(
                    await press_to_paint(app, paints, "tab", lambda b=before: app.focused is not b)
                )
            else:
                panes.focus()
                await pilot.pause()
                before_y = panes.scroll_y
                after.append(
                    await press_to_paint(
                        app, paints, "down", lambda b=before_y: panes.scroll_y != b
                    )
                )
            await asyncio.sleep(0.02)
        result["keypress_ms"] = _ms(after)
    result["bare_keypress_ms"] = _ms(await bare_keys(presses))
    return result


async def steps() -> dict:
    """Strategy → Preview (first visits), back to Strategy and forward again (revisits)."""
    from bench.wizard_probe import Paints, call_to_paint
    from screens.app import make_app
    from tests.support.screen_fakes import FakeEngine
    from tests.support.screen_helpers import example

    app = make_app(profile=example("local-nginx"), engine=FakeEngine(), initial_step="strategy")
    first: list[float] = []
    again: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        paints = Paints(app)
        await pilot.pause()
        await asyncio.sleep(1.0)  # the operator reads the first step
        route = ["nodes", "balancer", "ssh", "preview"]
        for samples, walk in (
            (first, route),
            (again, ["ssh", "balancer", "nodes", "strategy"]),
            (again, route),
        ):
            for step in walk:
                samples.append(
                    await call_to_paint(
                        app,
                        paints,
                        lambda s=step: app.goto(s),
                        lambda s=step: getattr(app.screen, "step", "") == s,
                    )
                )
                await pilot.pause()
                await asyncio.sleep(0.05)
    return {"first_visit_ms": _ms(first), "switch_ms": _ms(again)}


# The parent -----------------------------------------------------------------------------------


# A terminal with true colour, as most are; with 16 colours (TERM=xterm) the wizard switches to
# an ANSI theme, measured as its own figure.
TRUECOLOR = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
SIXTEEN = {"TERM": "xterm", "COLORTERM": ""}


def _child(*args: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or TRUECOLOR))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.wizard_timing", "--child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return proc.stdout.strip().splitlines()[-1]


def _first(kind: str, env: dict[str, str] | None = None) -> float:
    began = time.time()
    return float(_child("first", kind, env=env)) - began


def measure(presses: int = 20, rounds: int = 3) -> dict:
    """Every figure, ``rounds`` times; the median of each, and the same-run comparisons."""
    firsts: dict[str, list[float]] = {"bare": [], "kubeha": [], "kubeha16": []}
    deploys: list[dict] = []
    switches: list[dict] = []
    for _ in range(rounds):
        for kind in ("bare", "kubeha"):
            firsts[kind].append(_first(kind))
        firsts["kubeha16"].append(_first("kubeha", SIXTEEN))
        deploys.append(json.loads(_child("deploy", str(presses))))
        switches.append(json.loads(_child("steps")))

    def median(rows: list[dict], *path: str) -> float | None:
        values = []
        for row in rows:
            for key in path:
                row = row[key] if row is not None else None
            if row is not None:
                values.append(row)
        return round(statistics.median(values), 1) if values else None

    first = statistics.median(firsts["kubeha"])
    bare = statistics.median(firsts["bare"])
    return {
        "rounds": rounds,
        "first_screen_s": round(first, 3),
        "bare_first_screen_s": round(bare, 3),
        "first_screen_over_bare_s": round(
            statistics.median(k - b for k, b in zip(firsts["kubeha"], firsts["bare"], strict=True)),
            3,
        ),
        "first_screen_16_colours_over_bare_s": round(
            statistics.median(
                k - b for k, b in zip(firsts["kubeha16"], firsts["bare"], strict=True)
            ),
            3,
        ),
        "panes": NODES,
        "presses": presses,
        "widgets": median(deploys, "widgets"),
        "deploy_open_ms": median(deploys, "deploy_open_ms"),
        "keypress_p50_ms": median(deploys, "keypress_ms", "p50"),
        "keypress_max_ms": median(deploys, "keypress_ms", "max"),
        "bare_keypress_p50_ms": median(deploys, "bare_keypress_ms", "p50"),
        "bare_keypress_max_ms": median(deploys, "bare_keypress_ms", "max"),
        "events": median(deploys, "events"),
        "stream_s": median(deploys, "stream_s"),
        "applies": median(deploys, "applies"),
        "behind_ms": median(deploys, "behind_ms"),
        "loop_stall_max_ms": median(deploys, "loop_stall_max_ms"),
        "stream_keypress_p50_ms": median(deploys, "stream_keypress_ms", "p50"),
        "stream_keypress_max_ms": median(deploys, "stream_keypress_ms", "max"),
        "first_visit_p50_ms": median(switches, "first_visit_ms", "p50"),
        "switch_p50_ms": median(switches, "switch_ms", "p50"),
        "switch_max_ms": median(switches, "switch_ms", "max"),
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        scenario, rest = argv[1], argv[2:]
        if scenario == "first":
            print(repr(first_screen(rest[0])))
        elif scenario == "deploy":
            print(json.dumps(asyncio.run(deploy(int(rest[0])))))
        elif scenario == "steps":
            print(json.dumps(asyncio.run(steps())))
        return
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.wizard_timing",
        description=__doc__.split("\n\n", 1)[0],
        epilog="Prints one JSON line of figures.",
    )
    parser.add_argument("presses", nargs="?", type=int, default=20, help="key presses (20)")
    parser.add_argument("rounds", nargs="?", type=int, default=3, help="rounds (3)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.presses, args.rounds)))


if __name__ == "__main__":
    main(sys.argv[1:])
