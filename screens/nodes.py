"""Step 3, Masters and nodes: masters (and their apiserver port), workers and load-balancer
nodes, typed one per line or pasted as a list, validated as you type."""

from __future__ import annotations

import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static, TextArea

from screens.base import WizardScreen
from screens.node_text import format_nodes, parse_nodes

GROUPS = (
    ("masters", "Masters", "kube-apiservers; 3 or 5"),
    ("workers", "Workers", "optional"),
    ("lb_nodes", "LB nodes", "haproxy run_on = lb-nodes only"),
)


class NodesScreen(WizardScreen):
    step = "nodes"
    show_problems = True

    def compose_body(self) -> ComposeResult:
        profile = self.state.profile
        with Vertical(id="body"):
            yield Static(
                "One node per line: [name] address [apiserver-port]. "
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
        super().on_mount()
        self.query_one("#text-masters", TextArea).focus()

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        group = (event.text_area.id or "").removeprefix("text-")
        previous = getattr(self.state.profile, group)
        nodes, problems = parse_nodes(event.text_area.text, group, previous)
        self.state.profile = dataclasses.replace(self.state.profile, **{group: nodes})
        self.local_problems = {
            key: p for key, p in self.local_problems.items() if not key.startswith(group)
        }
        self.local_problems.update({p.field: p for p in problems})
        self.revalidate()
