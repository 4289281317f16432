"""The one host setting a large lab needs: inotify instances. Every node's systemd (and its
journald, udev...) takes inotify instances, all counted against root's
``fs.inotify.max_user_instances`` (128 on Debian): around 30 nodes the next container's
systemd fails ("Failed to create control group inotify object: Too many open files").

``lab up`` raises the limit only when the lab needs more, records the value it found, and
``lab down`` puts that value back; nothing else on the host is changed.
"""

from __future__ import annotations

from pathlib import Path

from wizard.lab.constants import LAB_DIR

SETTING = Path("/proc/sys/fs/inotify/max_user_instances")
SAVED = LAB_DIR / "inotify-max-user-instances.orig"
PER_NODE = 8  # instances a node's systemd, journald and friends take, with room to spare
HOST_SHARE = 32  # left for the host's own users of inotify


def needed(nodes: int) -> int:
    return HOST_SHARE + PER_NODE * nodes


def raise_for(nodes: int, log) -> None:
    """Raise the limit to what ``nodes`` need, if it is lower; remember the value found once."""
    current = int(SETTING.read_text())
    want = needed(nodes)
    if current >= want:
        return
    if not SAVED.exists():
        SAVED.parent.mkdir(parents=True, exist_ok=True)
        SAVED.write_text(f"{current}\n")
    SETTING.write_text(f"{want}\n")
    log(f"fs.inotify.max_user_instances {current} -> {want} for {nodes} nodes (put back by down)")


def restore(log) -> None:
    """Put back the value ``raise_for`` found, if it changed one."""
    if not SAVED.exists():
        return
    original = SAVED.read_text().strip()
    if original.isdigit():
        SETTING.write_text(f"{original}\n")
        log(f"fs.inotify.max_user_instances back to {original}")
    SAVED.unlink()
