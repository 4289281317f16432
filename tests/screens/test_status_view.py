"""``kubeha status``'s live table (screens/status.py), driven by Pilot: 500 simulated nodes x 3
masters painted, a node that could not be read named, ``r`` reads again."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import DataTable, Static

from screens.status import StatusApp
from wizard.status.fleet import MasterView, NodeStatus

MASTERS = ("10.77.0.11:6443", "10.77.0.12:6443", "10.77.0.13:6443")


def fleet(count: int, down: str = "") -> list[NodeStatus]:
    nodes = [
        NodeStatus(
            f"w{i}",
            balancer_up=True,
            generation=3,
            source="endpoints",
            masters=tuple(
                MasterView(m, m != down, i % 7, False, 0, 1.5, time.time() - 30 if m == down else 0)
                for m in MASTERS
            ),
        )
        for i in range(count)
    ]
    nodes.append(NodeStatus("w-silent", error="http://10.77.0.99:9446/metrics: timed out"))
    return nodes


async def wait_painted(app: StatusApp, pilot, count: int) -> None:
    for _ in range(400):  # bounded: 400 x 0.05 s
        if app.painted >= count:
            return
        await pilot.pause(0.05)
    raise AssertionError(f"painted {app.painted} times, expected {count}")


def test_five_hundred_nodes_are_painted_with_every_master():
    reads = []

    def reader():
        reads.append(time.monotonic())
        return fleet(500, down=MASTERS[1])

    async def run():
        app = StatusApp(reader, "lab", interval_s=3600)
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_painted(app, pilot, 1)
            table = app.query_one("#fleet", DataTable)
            assert table.row_count == 501
            assert [str(c.label) for c in table.columns.values()][4:] == list(MASTERS)
            first = [str(c) for c in table.get_row_at(0)]
            assert first[:4] == ["w0", "up", "#3 endpoints", "30s ago"]
            assert first[4:] == ["up 0", "DOWN 0", "up 0"]
            silent = [str(c) for c in table.get_row_at(500)]
            assert silent[:2] == ["w-silent", "unread"]
            summary = str(app.query_one("#summary", Static).render())
            assert "500/501 nodes healthy" in summary and "w-silent" in summary
            await pilot.press("r")
            await wait_painted(app, pilot, 2)
            assert len(reads) == 2

    asyncio.run(run())


def test_text_from_a_node_is_shown_escaped():
    def reader():
        return [NodeStatus("w\x1b[2Jevil", error="bad\x07answer")]

    async def run():
        app = StatusApp(reader, "lab", interval_s=3600)
        async with app.run_test(size=(120, 20)) as pilot:
            await wait_painted(app, pilot, 1)
            row = [str(c) for c in app.query_one("#fleet", DataTable).get_row_at(0)]
            assert "\x1b" not in row[0] and "evil" in row[0]
            summary = str(app.query_one("#summary", Static).render())
            assert "\x07" not in summary

    asyncio.run(run())
