"""Where a run's time goes, by test module: each module's setup, call and teardown seconds added
up and printed at the end (the slowest first), so that CI's log says which module to cut."""

from __future__ import annotations

from collections import defaultdict

import pytest

_SECONDS: defaultdict[str, float] = defaultdict(float)
_SHOWN = 20


def record(report: pytest.TestReport) -> None:
    _SECONDS[report.nodeid.split("::", 1)[0]] += report.duration


def summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SECONDS:
        return
    total = sum(_SECONDS.values())
    terminalreporter.write_sep("=", f"time per module, slowest {_SHOWN} ({total:.0f} s in all)")
    for module, seconds in sorted(_SECONDS.items(), key=lambda kv: -kv[1])[:_SHOWN]:
        terminalreporter.write_line(f"{seconds:8.1f}s  {module}")
