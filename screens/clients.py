"""Step 6, Clients: make an existing cluster HA. Whether ``kubeha apply`` repoints the nodes'
kubeconfigs to the load balancer once it verifies (``[clients] repoint``), which kubeconfigs
(one per line, ``PATH [UNIT or pod:NAME]``; kubeadm's when the profile lists none), whether kubeadm's
local kubeconfigs are repointed too (``repoint_local``, off: its help says what it costs during
``kubeadm upgrade``) and the cluster CA on the nodes (``ca_file``). Preview then shows each kubeconfig's one-line diff."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static, TextArea

from screens.base import WizardScreen
from screens.kubeconfig_text import (
    TITLE,
    by_line,
    format_kubeconfigs,
    parse_kubeconfigs,
    shown,
    stored,
)
from screens.state import get_field
from screens.widgets.form import FieldSpec, Form
from wizard.profile import REPOINT_LOCAL_HELP

CLIENT_FIELDS = (
    FieldSpec(
        "clients.repoint",
        "Repoint clients",
        "point the kubeconfigs at the LB",
        "bool",
    ),
    FieldSpec(
        "clients.repoint_local",
        "Local ones too",
        "see the note below",
        "bool",
    ),
    FieldSpec(
        "clients.ca_file",
        "CA file",
        "empty: each kubeconfig's own CA",
        "optstr",
        placeholder="/etc/kubernetes/pki/ca.crt",
    ),
)

INTRO = (
    "On: once a node's load balancer verifies, only the server: line of each kubeconfig below "
    "is pointed at it, its unit restarted and checked; a failure puts it back."
)
NOTE_ON = "One per line: PATH [UNIT or pod:NAME]. Only the files present on a node are touched."
NOTE_OFF = "Repointing is off: kubeha leaves these files alone (turn it on above)."


class ClientsScreen(WizardScreen):
    show_problems = True

    def __init__(self) -> None:
        super().__init__()
        self.kubeconfig_lines: tuple[int, ...] = ()  # the line of each listed kubeconfig

    def compose_body(self) -> ComposeResult:
        profile = self.state.profile
        values = {spec.path: get_field(profile, spec.path) for spec in CLIENT_FIELDS}
        text = format_kubeconfigs(shown(profile.clients.kubeconfigs))
        with Vertical(id="body"):
            yield Static(INTRO, id="clients-intro", markup=False)
            yield Form([("", CLIENT_FIELDS)], values, id="clients-form")
            area = TextArea(
                text,
                id="text-kubeconfigs",
                soft_wrap=False,
                show_line_numbers=True,
                tab_behavior="focus",
            )
            area.border_title = TITLE
            area.border_subtitle = r"PATH \[UNIT]; empty: kubeadm's"
            yield area
            yield Static("", id="clients-note", markup=False)
            yield Static(REPOINT_LOCAL_HELP, id="clients-local-note", markup=False)

    def on_mount(self) -> None:
        text = self.query_one("#text-kubeconfigs", TextArea).text
        self.kubeconfig_lines = parse_kubeconfigs(text).lines
        super().on_mount()
        self.query_one("#clients-form Checkbox").focus()

    def field_name(self, field: str) -> str:
        return by_line(field, self.kubeconfig_lines)

    def marked_fields(self) -> Iterator[tuple[tuple[str, ...], Widget, str | None]]:
        yield from super().marked_fields()
        area = self.query_one("#text-kubeconfigs", TextArea)
        yield ("clients.kubeconfigs", TITLE), area, TITLE

    def revalidate(self) -> None:
        super().revalidate()
        on = self.state.profile.clients.repoint
        self.query_one("#clients-note", Static).update(NOTE_ON if on else NOTE_OFF)
        self.query_one("#text-kubeconfigs", TextArea).set_class(not on, "-off")

    @on(Form.Edited)
    def _edited(self, event: Form.Edited) -> None:
        self.apply_edit(event.spec.path, event.value, event.problem)

    @on(TextArea.Changed, "#text-kubeconfigs")
    def _kubeconfigs_changed(self, event: TextArea.Changed) -> None:
        parsed = parse_kubeconfigs(event.text_area.text)
        self.kubeconfig_lines = parsed.lines
        clients = dataclasses.replace(
            self.state.profile.clients, kubeconfigs=stored(parsed.kubeconfigs)
        )
        self.state.profile = dataclasses.replace(self.state.profile, clients=clients)
        self.local_problems = {
            key: p for key, p in self.local_problems.items() if not key.startswith(TITLE)
        }
        self.local_problems.update({p.field: p for p in parsed.problems})
        self.revalidate()
