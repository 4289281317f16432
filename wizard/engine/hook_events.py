"""The engine's side of a strategy hook's report (``wizard.strategies.hooks.Report``): each call
becomes a run-level event (node None) of the hook's phase."""

from __future__ import annotations

from collections.abc import Callable

from wizard.engine.events import Event, Status
from wizard.strategies.hooks import Report


def reporter(emit: Callable[[Event], None], phase: str) -> Report:
    """A Report that emits each call as an Event of ``phase``."""

    def report(
        status: str,
        message: str,
        lines: tuple[str, ...] = (),
        *,
        progress: float | None = None,
        duration: float | None = None,
    ) -> None:
        emit(Event(None, phase, Status(status), message, tuple(lines), duration, progress))

    return report
