"""Instruments for bench/wizard_timing.py: a paint recorder, a paced engine and test profiles.

A *paint* is the compositor building an update for the terminal (``App._display``; headless,
the update is built and dropped). Keypress-to-paint is the time from a key reaching the driver
to the first paint at which the key's effect (focus moved, list scrolled) is on screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wizard.engine.events import Event, Status
from wizard.engine.model import NodeResult, NodeState, RunSummary
from wizard.profile import Node, Profile

PHASES = ("connect", "facts", "install", "upload", "activate", "verify")


def many_node_profile(total: int) -> Profile:
    """The local-nginx example with workers added up to ``total`` nodes (198.18.0.0/15: the
    benchmarking range; nothing is ever contacted, the engine is scripted)."""
    from wizard.paths import EXAMPLE_PROFILES_DIR
    from wizard.profile_io import load_profile

    base = load_profile(EXAMPLE_PROFILES_DIR / "local-nginx.toml")
    count = total - len(base.masters)
    workers = tuple(
        Node(f"worker{i}", f"198.18.{i // 250}.{i % 250 + 1}") for i in range(1, count + 1)
    )
    return dataclasses.replace(base, workers=workers, lb_nodes=())


@dataclass
class PacedEngine:
    """Every node through every phase, nodes interleaved as the real engine's pool does, at
    ``rate`` events per second; records when it returned."""

    rate: float = 1200.0
    connects: bool = False  # scripted: the wizard may run it on the example addresses
    events: int = 0
    began: float = 0.0
    returned: float = 0.0
    calls: list = field(default_factory=list)

    def __call__(self, plan, options, sink, cancel=None, secrets=None) -> RunSummary:
        profile = plan.profile
        cancel = cancel or threading.Event()
        names = [n.name for n in profile.all_nodes()]
        self.began = time.perf_counter()
        sink(Event(None, "run", Status.STARTED, f"run of {len(names)} node(s)"))
        for step, phase in enumerate(PHASES):
            for name in names:
                if cancel.is_set():
                    break
                self._emit(sink, Event(name, phase, Status.STARTED, f"{phase}…"))
                progress = (step + 1) / len(PHASES)
                self._emit(sink, Event(name, phase, Status.OK, f"{phase} ok", progress=progress))
        results = tuple(NodeResult(n, NodeState.VERIFIED) for n in names)
        self.returned = time.perf_counter()
        return RunSummary("run-bench", profile.name, results, None)

    def _emit(self, sink, event: Event) -> None:
        sink(event)
        self.events += 1
        due = self.began + self.events / self.rate
        delay = due - time.perf_counter()
        if delay > 0.002:
            time.sleep(delay)


class Paints:
    """Records every paint of ``app`` and wakes waiters on each."""

    def __init__(self, app) -> None:
        self.app = app
        self.count = 0
        self.last = 0.0
        self._event = asyncio.Event()
        self._watches: list[tuple[Callable[[], bool], list[float]]] = []
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is not None:
                self.count += 1
                self.last = time.perf_counter()
                self._event.set()
                for condition, seen in self._watches:
                    if not seen and condition():
                        seen.append(self.last)

        app._display = display

    def watch(self, condition: Callable[[], bool]) -> list[float]:
        """A list that gets the time of the first paint at which ``condition()`` holds."""
        seen: list[float] = []
        self._watches.append((condition, seen))
        return seen

    async def until(self, condition: Callable[[], bool], timeout: float = 60.0) -> float:
        """The time of the first paint (from now on) at which ``condition()`` holds."""
        deadline = time.perf_counter() + timeout
        while True:
            self._event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("no paint with the expected change")
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                continue
            if condition():
                return self.last


async def press_to_paint(app, paints: Paints, key: str, changed: Callable[[], bool]) -> float:
    """Milliseconds from ``key`` reaching the driver to the paint that shows ``changed()``."""
    began = time.perf_counter()
    task = asyncio.create_task(app._press_keys([key]))
    painted = await paints.until(changed)
    await task
    return (painted - began) * 1000


async def call_to_paint(app, paints: Paints, call: Callable[[], None], changed) -> float:
    """Milliseconds from scheduling ``call`` on the app's loop to the paint showing ``changed()``."""
    began = time.perf_counter()
    app.call_later(call)
    painted = await paints.until(changed)
    return (painted - began) * 1000


class LoopProbe:
    """The event loop's worst stall while running: a 10 ms sleep that wakes late."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - began) * 1000 - 10)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
