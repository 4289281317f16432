"""``kubeha status``: a live table of every node x every master, as each node's balancer sees
it (``wizard.status.fleet`` reads the agents; this module only paints).

A row per node: its balancer, the list's generation and source, the last failover it saw, then
one cell per master (up / down / draining, and the balancer's open connections to it). The
table is read again every ``interval_s`` in a thread worker and swapped in whole; ``r`` reads it
now, ``q`` leaves. Nothing here changes a node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from wizard.status.fleet import NodeStatus, masters_of
from wizard.textsafe import printable

Reader = Callable[[], list[NodeStatus]]


def cell(status: NodeStatus, master: str) -> Text:
    """One node's view of one master, short enough for 15 masters side by side."""
    found = next((m for m in status.masters if m.master == master), None)
    if status.error:
        return Text("?", style="dim")
    if found is None:
        return Text("-", style="dim")
    if found.draining:
        return Text(f"drain {found.connections}", style="yellow")
    if found.up:
        return Text(f"up {found.connections}", style="green")
    return Text(f"DOWN {found.connections}", style="bold red")


def last_failover(status: NodeStatus, now: float) -> str:
    """How long ago this node saw a master change, or '-'."""
    stamps = [m.changed_at for m in status.masters if m.changed_at > 0]
    if not stamps:
        return "-"
    ago = max(0.0, now - max(stamps))
    return f"{ago:.0f}s ago" if ago < 120 else f"{ago / 60:.0f}m ago"


class StatusApp(App[None]):
    """The live table; ``reader`` gives every node's status (a blocking call, run off the UI
    thread)."""

    TITLE = "kubeha status"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "read now"),
        Binding("q", "quit", "quit"),
    ]

    class Read(Message):
        def __init__(self, statuses: list[NodeStatus], read_at: float) -> None:
            super().__init__()
            self.statuses, self.read_at = statuses, read_at

    def __init__(self, reader: Reader, profile_name: str, interval_s: float = 2.0) -> None:
        super().__init__()
        self.reader, self.profile_name, self.interval_s = reader, profile_name, interval_s
        self.painted = 0  # how many tables were painted (the tests wait on it)

    def compose(self) -> ComposeResult:
        yield Static(
            f"profile {printable(self.profile_name)}: reading every node's agent...", id="summary"
        )
        yield DataTable(id="fleet", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.read_fleet()
        self.set_interval(self.interval_s, self.read_fleet)

    def action_refresh(self) -> None:
        self.read_fleet()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def read_fleet(self) -> None:
        statuses = self.reader()
        self.post_message(self.Read(statuses, time.time()))

    def on_status_app_read(self, message: Read) -> None:
        self.paint(message.statuses, message.read_at)

    def paint(self, statuses: Sequence[NodeStatus], now: float) -> None:
        table = self.query_one("#fleet", DataTable)
        masters = masters_of(statuses)
        table.clear(columns=True)
        table.add_columns("node", "balancer", "list", "last failover", *masters)
        rows = []
        for status in statuses:
            if status.error:
                head = [Text(printable(status.node)), Text("unread", style="bold red"), "", ""]
            else:
                balancer = (
                    Text("up", style="green")
                    if status.balancer_up
                    else Text("DOWN", style="bold red")
                )
                head = [
                    Text(printable(status.node)),
                    balancer,
                    f"#{status.generation} {printable(status.source)}",
                    last_failover(status, now),
                ]
            rows.append([*head, *(cell(status, m) for m in masters)])
        table.add_rows(rows)
        unread = [s for s in statuses if s.error]
        healthy = sum(1 for s in statuses if s.ok)
        summary = f"profile {printable(self.profile_name)}: {healthy}/{len(statuses)} nodes healthy"
        if unread:
            first = unread[0]
            summary += (
                f"; {len(unread)} not read ({printable(first.node)}: {printable(first.error)})"
            )
        self.query_one("#summary", Static).update(summary)
        self.painted += 1
