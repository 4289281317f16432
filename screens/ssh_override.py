"""A node's own SSH settings in the Nodes step's text: ``ssh=[user@][host][:port]``.

``worker1 10.0.0.21 ssh=ops@:2222`` reaches worker1 as ``ops`` on port 2222, through its own
address; ``ssh=[2001:db8::5]:22`` names another host to connect to. What is left out comes from
the profile's [ssh] section. The token stays on the node's line, so renaming the node keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

from wizard.problems import Problem, error
from wizard.profile import Master, Node, SshTarget

PREFIX = "ssh="
NO_OVERRIDE = SshTarget()


def format_ssh(target: SshTarget) -> str:
    """The token for a node's overrides; empty when it has none."""
    if target == NO_OVERRIDE:
        return ""
    host = target.host or ""
    if ":" in host:
        host = f"[{host}]"
    user = f"{target.user}@" if target.user else ""
    port = f":{target.port}" if target.port is not None else ""
    return f"{PREFIX}{user}{host}{port}"


def parse_ssh(token: str, where: str) -> tuple[SshTarget, Problem | None]:
    """The overrides in ``ssh=...``; a port that is not a number is a problem on ``where``."""
    text = token.removeprefix(PREFIX)
    user, _, rest = text.rpartition("@")
    host, port_text = rest, ""
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        port_text = after.removeprefix(":")
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    port: int | None = None
    if port_text:
        if not port_text.isdigit():
            expected = "expected ssh=[user@][host][:port] with a port from 1 to 65535"
            return NO_OVERRIDE, error(f"{where}.ssh.port", port_text, expected)
        port = int(port_text)
    return SshTarget(host or None, port, user or None), None


def split_ssh(words: Sequence[str], where: str) -> tuple[list[str], SshTarget, Problem | None]:
    """An entry's words without its ``ssh=`` token, and the overrides the token gives."""
    rest = [w for w in words if not w.startswith(PREFIX)]
    tokens = [w for w in words if w.startswith(PREFIX)]
    if not tokens:
        return rest, NO_OVERRIDE, None
    target, problem = parse_ssh(tokens[-1], where)
    return rest, target, problem


def describe_ssh(target: SshTarget) -> str:
    """``user ops, port 2222`` for the SSH step's list of per-node overrides."""
    parts = []
    if target.user:
        parts.append(f"user {target.user}")
    if target.host:
        parts.append(f"host {target.host}")
    if target.port is not None:
        parts.append(f"port {target.port}")
    return ", ".join(parts)


def overrides(nodes: Sequence[Master | Node]) -> list[tuple[str, SshTarget]]:
    """The nodes that have SSH settings of their own, in order."""
    return [(n.name, n.ssh) for n in nodes if n.ssh != NO_OVERRIDE]
