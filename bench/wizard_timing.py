"""The wizard's speed, headless, in a fresh interpreter (imports included): time to the first
screen, and keypress-to-paint on the deploy screen with 50 node panes (a scripted engine).

``python -m bench.wizard_timing [PRESSES]`` prints one JSON line; :func:`measure` runs it."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent


def fifty_node_profile():
    import dataclasses

    from wizard.paths import EXAMPLE_PROFILES_DIR
    from wizard.profile import Node
    from wizard.profile_io import load_profile

    base = load_profile(EXAMPLE_PROFILES_DIR / "local-nginx.toml")
    workers = tuple(Node(f"worker{i}", f"198.18.0.{i}") for i in range(1, 51 - len(base.masters)))
    return dataclasses.replace(base, workers=workers, lb_nodes=())


async def _run(presses: int) -> dict:
    from screens.app import make_app
    from screens.deploy import DeployScreen
    from tests.screens.fakes import FakeEngine

    profile = fifty_node_profile()
    app = make_app(profile=profile, engine=FakeEngine())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        first = time.perf_counter() - STARTED
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DeployScreen)
        for _ in range(600):
            if app.screen.finished:
                break
            await pilot.pause(0.05)
        panes = len(app.screen.query(".pane")) or len(getattr(app.screen, "views", {}))
        samples = []
        for _ in range(presses):
            began = time.perf_counter()
            await pilot.press("tab")
            await pilot.pause()
            samples.append((time.perf_counter() - began) * 1000)
    return {
        "first_screen_s": round(first, 3),
        "panes": panes,
        "presses": presses,
        "keypress_p50_ms": round(statistics.median(samples), 1),
        "keypress_max_ms": round(max(samples), 1),
    }


def measure(presses: int = 20) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.wizard_timing", str(presses)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import asyncio

    print(json.dumps(asyncio.run(_run(int(sys.argv[1]) if len(sys.argv) > 1 else 20))))
