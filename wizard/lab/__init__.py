"""kubeha's lab: real nodes on this machine (systemd-nspawn containers on a private bridge).

The API the tests and the deploy engine use::

    from wizard.lab import Lab, up, down, current, load_state
    lab = up(masters=3, workers=2)          # or current() for the lab already up
    lab.exec_in_node("m1", ["systemctl", "is-active", "ssh"])
    lab.kill_apiserver("m1"); lab.cut("m2"); lab.drain("m3"); lab.restore("m1")
    down()
"""

from wizard.lab.lab import (
    Lab,
    add_node,
    apiserver_state,
    current,
    cut,
    down,
    drain,
    exec_in_node,
    is_healthy,
    kill_apiserver,
    load_state,
    remove_node,
    restore,
    status_rows,
    up,
)
from wizard.lab.state import LabState, NodeState

__all__ = [
    "Lab",
    "LabState",
    "NodeState",
    "add_node",
    "apiserver_state",
    "current",
    "cut",
    "down",
    "drain",
    "exec_in_node",
    "is_healthy",
    "kill_apiserver",
    "load_state",
    "remove_node",
    "restore",
    "status_rows",
    "up",
]
