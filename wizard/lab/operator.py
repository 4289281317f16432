"""A non-root operator account on lab nodes, as real nodes have one: ``ops`` logs in with the lab
key (plus any extra public keys), and gets root through sudo, with or without a password per node.

Tests add it in a module-scoped fixture and remove it at the end of the module::

    from wizard.lab import operator
    operator.add(["m1", "w1"], password="...", keys=[pki.public_key()], sudo={"m1": "password"})
    operator.set_sudo("w1", "password"); operator.set_keys("m1", [])   # a refused key
    operator.remove(["m1", "w1"])

Nodes are named as in the lab (``m1``...) or ``bastion`` for the jump host.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence

from wizard.lab import node as lab_node
from wizard.lab.errors import LabError
from wizard.lab.state import read_state
from wizard.lab.system import alive, run

USER = "ops"
SUDO_MODES = ("nopasswd", "password", "none")


def sudoers_file(user: str) -> str:
    return f"/etc/sudoers.d/kubeha-lab-{user}"


def _init_pid(name: str) -> int:
    if name == "bastion":
        from wizard.lab import bastion

        found = bastion.current()
        if found is None:
            raise LabError("the lab's bastion is not up")
        return found.init_pid
    state = read_state()
    if state is None:
        raise LabError("no lab is up: run `kubeha lab up` first")
    n = state.node(name)
    if not alive(n.init_pid, n.init_started) or n.init_pid is None:
        raise LabError(f"node {name} is not running")
    return n.init_pid


def exec_in(name: str, argv: Sequence[str], *, input: str | None = None, check: bool = True):
    """Run ``argv`` inside lab node ``name`` (or the bastion), optionally with stdin."""
    return run(
        lab_node.exec_argv(_init_pid(name), list(argv)), input=input, check=check, timeout=60
    )


def add(
    names: Iterable[str],
    *,
    password: str,
    keys: Sequence[str],
    sudo: Mapping[str, str] | None = None,
    user: str = USER,
) -> None:
    """Create ``user`` on each node with ``keys`` authorized and ``password`` set; sudo per node
    from ``sudo`` (``nopasswd``, ``password`` or ``none``; default ``nopasswd``)."""
    sudo = sudo or {}
    for name in names:
        q = shlex.quote(user)
        exec_in(
            name,
            [
                "sh",
                "-c",
                f"id -u {q} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {q}",
            ],
        )
        exec_in(name, ["chpasswd"], input=f"{user}:{password}\n")
        set_keys(name, keys, user=user)
        set_sudo(name, sudo.get(name, "nopasswd"), user=user)


def set_keys(name: str, keys: Sequence[str], *, user: str = USER) -> None:
    """Replace the user's authorized_keys on the node (an empty list refuses every key)."""
    home = f"/home/{user}"
    q, ssh = shlex.quote(user), shlex.quote(f"{home}/.ssh")
    exec_in(
        name,
        [
            "sh",
            "-c",
            f"install -d -m 700 -o {q} -g {q} {ssh} && "
            f"cat > {ssh}/authorized_keys && chown {q}:{q} {ssh}/authorized_keys && "
            f"chmod 600 {ssh}/authorized_keys",
        ],
        input="".join(k.strip() + "\n" for k in keys),
    )


def set_sudo(name: str, mode: str, *, user: str = USER) -> None:
    """``nopasswd``: sudo without a password; ``password``: sudo asks for the user's password;
    ``none``: no sudo at all."""
    if mode not in SUDO_MODES:
        raise LabError(f"sudo mode {mode!r}: expected one of {', '.join(SUDO_MODES)}")
    path = sudoers_file(user)
    if mode == "none":
        exec_in(name, ["rm", "-f", path])
        return
    rule = "NOPASSWD: ALL" if mode == "nopasswd" else "ALL"
    text = f"# kubeha lab operator\n{user} ALL=(ALL:ALL) {rule}\n"
    tmp = shlex.quote(path + ".tmp")
    exec_in(
        name,
        [
            "sh",
            "-c",
            f"cat > {tmp} && chmod 440 {tmp} && visudo -cqf {tmp} && mv -f {tmp} {shlex.quote(path)}",
        ],
        input=text,
    )


def remove(names: Iterable[str], *, user: str = USER) -> None:
    """Delete the user (home included) and its sudo rule; nodes that are gone are skipped."""
    for name in names:
        try:
            exec_in(name, ["rm", "-f", sudoers_file(user)], check=False)
            exec_in(
                name,
                [
                    "sh",
                    "-c",
                    f"id -u {shlex.quote(user)} >/dev/null 2>&1 || exit 0; "
                    f"userdel --force --remove {shlex.quote(user)} 2>/dev/null; true",
                ],
                check=False,
            )
        except LabError:
            continue
