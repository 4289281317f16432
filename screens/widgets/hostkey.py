"""The modal that asks the operator to trust a node's SSH host key."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class HostKeyModal(ModalScreen[bool]):
    """Shows the host and the key's fingerprint; y trusts and pins it, n or Escape refuses."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Trust"),
        Binding("n", "answer(False)", "Refuse"),
        Binding("escape", "answer(False)", "Refuse", show=False),
    ]

    def __init__(self, host: str, fingerprint: str) -> None:
        super().__init__()
        self.host = host
        self.fingerprint = fingerprint

    def compose(self) -> ComposeResult:
        with Vertical(id="hostkey-box"):
            yield Static(f"New host key for {self.host}", id="hostkey-title", markup=False)
            yield Static(
                "kubeha has not seen this node's SSH key before. Compare the fingerprint with "
                "the node's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).",
                markup=False,
            )
            yield Static(self.fingerprint, id="hostkey-fingerprint", markup=False)
            with Horizontal(id="hostkey-buttons"):
                yield Button("Trust (y)", id="trust", variant="warning", compact=True)
                yield Button("Refuse (n)", id="refuse", compact=True)

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def action_answer(self, trusted: bool) -> None:
        self.dismiss(trusted)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "trust")
