"""Step 3, Masters and nodes: masters (and their apiserver port), workers and load-balancer
nodes, typed one per line or pasted as a list, validated as you type.

Messages name a node by the line it is on (``Masters line 4``), as the operator sees it, where
the profile says ``masters[3]``. A node's own SSH settings are on its line (``ssh=user@:2222``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static, TextArea

from screens.base import WizardScreen
from screens.node_text import format_nodes, parse_nodes

GROUPS = (
    ("masters", "Masters", "kube-apiservers; 3 or 5"),
    ("workers", "Workers", "optional"),
    ("lb_nodes", "LB nodes", "haproxy run_on = lb-nodes only"),
)
TITLES = {group: title for group, title, _ in GROUPS}
_INDEXED = re.compile(r"(masters|workers|lb_nodes)\[(\d+)\]\.?(.*)\Z", re.DOTALL)


def line_numbers(text: str, group: str) -> tuple[list[int], list[int]]:
    """The 1-based line of each entry written in ``text`` and of each node made from it."""
    whole = re.compile(rf"{group}\[\d+\]\Z")
    entries: list[int] = []
    nodes: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        found, problems = parse_nodes(line, group)
        bad = sum(bool(whole.match(p.field)) for p in problems)
        nodes += [number] * len(found)
        entries += [number] * (len(found) + bad)
    return entries, nodes


def by_line(field: str, lines: dict[str, list[int]]) -> str:
    """``masters[3].address`` as ``Masters line 4 address`` (``lines``: group -> line of each
    index); a field of no node, or an index past the text, stays as it is."""
    match = _INDEXED.match(field)
    if match is None:
        return field
    group, index, rest = match.group(1), int(match.group(2)), match.group(3)
    numbers = lines.get(group, [])
    if index >= len(numbers):
        return field
    return f"{TITLES[group]} line {numbers[index]}" + (f" {rest}" if rest else "")


class NodesScreen(WizardScreen):
    show_problems = True

    def __init__(self) -> None:
        super().__init__()
        self.node_lines: dict[str, list[int]] = {}  # group -> the line of each node

    def compose_body(self) -> ComposeResult:
        profile = self.state.profile
        with Vertical(id="body"):
            yield Static(
                "One node per line: [name] address [apiserver-port] [ssh=user@host:port]. "
                "Paste a list of addresses to add many.",
                id="nodes-help",
                markup=False,
            )
            with Horizontal(id="node-groups"):
                for group, title, hint in GROUPS:
                    area = TextArea(
                        format_nodes(getattr(profile, group)),
                        id=f"text-{group}",
                        classes="node-text",
                        soft_wrap=False,
                        show_line_numbers=False,
                        tab_behavior="focus",
                    )
                    area.border_title = title
                    area.border_subtitle = hint
                    yield area

    def on_mount(self) -> None:
        for group, _title, _hint in GROUPS:
            text = self.query_one(f"#text-{group}", TextArea).text
            self.node_lines[group] = line_numbers(text, group)[1]
        super().on_mount()
        self.query_one("#text-masters", TextArea).focus()

    def field_name(self, field: str) -> str:
        return by_line(field, self.node_lines)

    def marked_fields(self) -> Iterator[tuple[tuple[str, ...], Widget, str | None]]:
        for group, title, _hint in GROUPS:
            area = self.query_one(f"#text-{group}", TextArea)
            yield (group, f"{title} line", title), area, title

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        group = (event.text_area.id or "").removeprefix("text-")
        text = event.text_area.text
        nodes, problems = parse_nodes(text, group)
        entry_lines, self.node_lines[group] = line_numbers(text, group)
        changes: dict[str, Any] = {group: nodes}  # masters, workers or lb_nodes
        self.state.profile = dataclasses.replace(self.state.profile, **changes)
        self.local_problems = {
            key: p for key, p in self.local_problems.items() if not key.startswith(group)
        }
        # text that made no node is named by its line here; the validator's, in field_name
        entries = {group: entry_lines}
        self.local_problems.update(
            {p.field: dataclasses.replace(p, field=by_line(p.field, entries)) for p in problems}
        )
        self.revalidate()
