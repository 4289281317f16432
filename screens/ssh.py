"""Step 5, SSH: user, key, port, bastion and sudo from the profile; the key's passphrase and
the sudo password are asked here and held in memory only (``WizardState.secrets``), never
written to the profile, a log or the screen."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from screens.base import WizardScreen
from screens.ssh_override import describe_ssh, overrides
from screens.state import get_field
from screens.widgets.form import FieldSpec, Form
from wizard.profile import Master, Node

SSH_FIELDS = (
    FieldSpec("ssh.user", "User", "the login user on every node (empty: your own)", "optstr"),
    FieldSpec(
        "ssh.key_file", "Key file", "a private key, e.g. ~/.ssh/id_ed25519 (empty: agent)", "optstr"
    ),
    FieldSpec("ssh.port", "Port", "empty: ~/.ssh/config's Port, else 22", "optint"),
    FieldSpec(
        "ssh.bastion", "Bastion", "jump host as [user@]host[:port] (empty: direct)", "optstr"
    ),
    FieldSpec("ssh.sudo", "Use sudo", "run commands with sudo when the user is not root", "bool"),
    FieldSpec("ssh.known_hosts", "Known hosts", "an extra known_hosts file (optional)", "optstr"),
)

SECRET_FIELDS = (
    FieldSpec("passphrase", "Key passphrase", "held in memory only, never saved", "secret"),
    FieldSpec("sudo_password", "Sudo password", "held in memory only, never saved", "secret"),
)


def overrides_text(nodes: Sequence[Master | Node]) -> str:
    """The nodes that do not use these settings as they are, and what they use instead."""
    own = overrides(nodes)
    if not own:
        return "Every node uses these settings (a node's own: ssh=user@host:port on its line)."
    lines = [f"  {name}: {describe_ssh(target)}" for name, target in own]
    head = "Nodes with SSH settings of their own (edit them on the Nodes step):"
    return "\n".join([head, *lines])


class SshScreen(WizardScreen):
    show_problems = True

    def compose_body(self) -> ComposeResult:
        profile = self.state.profile
        values = {spec.path: get_field(profile, spec.path) for spec in SSH_FIELDS}
        values.update(
            passphrase=self.state.secrets.passphrase,
            sudo_password=self.state.secrets.sudo_password,
        )
        sections = [
            ("Reaching the nodes", SSH_FIELDS),
            ("Secrets (this session only)", SECRET_FIELDS),
        ]
        with Vertical(id="body"):
            yield Form(sections, values, id="form")
            yield Static(overrides_text(profile.all_nodes()), id="ssh-overrides", markup=False)

    def revalidate(self) -> None:
        super().revalidate()
        # a kept screen comes back through here too: the nodes may have changed meanwhile
        text = overrides_text(self.state.profile.all_nodes())
        self.query_one("#ssh-overrides", Static).update(text)

    def on_mount(self) -> None:
        super().on_mount()
        self.query("#form Input").first().focus()

    @on(Form.Edited)
    def _edited(self, event: Form.Edited) -> None:
        spec = event.spec
        if spec.kind == "secret":
            secrets = self.state.secrets
            value = event.value or None
            self.state.secrets = dataclasses.replace(secrets, **{spec.path: value})
            return
        self.apply_edit(spec.path, event.value, event.problem)
