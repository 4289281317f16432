"""The Nodes step's text format: one node per line, ``[name] address [apiserver-port]``.

A pasted list works too: addresses separated by commas, spaces or new lines each become a node
named ``<group><n>``. A node's own SSH settings ride on its line as ``ssh=[user@][host][:port]``
(``screens.ssh_override``), so they show and survive a rename.
Text that cannot become a node at all is reported as a Problem on that node's field.
The deploy screen's node panes take their text from here too (``pane_title``, ``pane_lines``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from screens.ssh_override import format_ssh, split_ssh
from wizard.netaddr import parse_ip
from wizard.problems import Problem, error
from wizard.profile import Master, Node

if TYPE_CHECKING:
    from screens.node_view import NodeView

GROUP_PREFIX = {"masters": "master", "workers": "worker", "lb_nodes": "lb"}
_SPLIT = re.compile(r"[,\s]+")


def format_nodes(nodes: Sequence[Master | Node]) -> str:
    lines = []
    for node in nodes:
        line = f"{node.name} {node.address}"
        if isinstance(node, Master) and node.apiserver_port != 6443:
            line += f" {node.apiserver_port}"
        if ssh := format_ssh(node.ssh):
            line += f" {ssh}"
        lines.append(line)
    return "\n".join(lines)


def _entries(text: str, group: str) -> list[list[str]]:
    entries: list[list[str]] = []
    for line in text.splitlines():
        tokens = [t for t in _SPLIT.split(line.strip()) if t]
        if not tokens:
            continue
        if "," in line or _pasted_list(tokens, group):
            # a pasted list: addresses only, or comma-separated entries
            for chunk in line.split(","):
                words = chunk.split()
                if len(words) > 1 and _pasted_list(words, group):
                    entries.extend([w] for w in words)
                elif words:
                    entries.append(words)
        else:
            entries.append(tokens)
    return entries


def _pasted_list(words: list[str], group: str) -> bool:
    """Addresses separated by spaces: every word an IP, or a first word that cannot be a node
    name (it holds '.' or ':') and is not ``address port``. Each word then becomes a node, so a
    bad one (``10.0.0.300``) is reported as that node's address. A line with a node's own
    settings (``ssh=...``) is one node."""
    if any("=" in w for w in words):
        return False
    if all(parse_ip(w) is not None for w in words):
        return True
    if group == "masters" and len(words) == 2 and words[1].isdigit():
        return False
    return any(mark in words[0] for mark in ".:")


def parse_nodes(text: str, group: str) -> tuple[tuple[Master | Node, ...], list[Problem]]:
    """The nodes written in ``text`` for ``group`` (masters, workers or lb_nodes)."""
    nodes: list[Master | Node] = []
    problems: list[Problem] = []
    for index, words in enumerate(_entries(text, group)):
        where = f"{group}[{index}]"
        port: int | None = None
        words, ssh, ssh_problem = split_ssh(words, where)
        if ssh_problem is not None:
            problems.append(ssh_problem)
        if len(words) == 1:
            name, address = f"{GROUP_PREFIX[group]}{index + 1}", words[0]
        elif len(words) == 2 and group == "masters" and words[1].isdigit():
            name, address = f"{GROUP_PREFIX[group]}{index + 1}", words[0]
            port = int(words[1])
        elif len(words) == 2:
            name, address = words
        elif len(words) == 3 and group == "masters":
            name, address = words[0], words[1]
            if words[2].isdigit():
                port = int(words[2])
            else:
                problems.append(
                    error(f"{where}.apiserver_port", words[2], "expected a port from 1 to 65535")
                )
        else:
            expected = "[name] address [apiserver-port]" if group == "masters" else "[name] address"
            problems.append(
                error(where, " ".join(words), f"expected one node per line: {expected}")
            )
            continue
        if group == "masters":
            nodes.append(Master(name, address, port if port is not None else 6443, ssh))
        else:
            nodes.append(Node(name, address, ssh))
    return tuple(nodes), problems


# The deploy screen's panes -------------------------------------------------------------------


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # one frame per tenth of a second
SPIN_RATE = 10


def elapsed(view: NodeView, now: float) -> str:
    """How long the node has run (or took): ``42s``, ``3m05s``; empty before it starts."""
    if view.started is None:
        return ""
    seconds = int(max((view.ended or now) - view.started, 0.0))
    if view.ended is not None and seconds == 0:
        return ""  # done within the second: nothing worth reading
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def pane_title(view: NodeView, now: float | None = None) -> str:
    """A pane's first line: node, role, address, time taken, a mark (a spinner while the node
    runs), the status and the current phase."""
    now = time.monotonic() if now is None else now
    phase = f" · {view.phase}" if view.phase and not view.finished else ""
    if view.failed:
        mark = "✗ "
    elif view.finished:
        mark = "✓ "
    elif view.running:
        mark = SPINNER[int(now * SPIN_RATE) % len(SPINNER)] + " "
    else:
        mark = ""
    took = elapsed(view, now)
    head = f"{view.node:<12} {view.role:<7} {view.address:<15} {took:>6}"
    return f"{head} {mark}{view.status}{phase}"


def pane_lines(view: NodeView) -> list[str]:
    """The lines under a pane's title: the node's last lines of output, oldest first."""
    return list(view.lines)
