"""What kubeha installed on a node (``/var/lib/kubeha/installed.json``): the profile, the
strategy, the files and the units, written once the node is verified, removed by uninstall.

A run for another strategy on the same node (local-nginx there, haproxy-keepalived wanted) must
not write over it piecemeal: the old load balancer still holds the port, the facts used to take
it for the new strategy's own, and every node rolled back. Changing strategy in place is
refused before anything changes, naming what runs there and the command that removes it. A
node from before the manifest is recognised by the units kubeha recorded there
(``/var/lib/kubeha/units``) that still run and that the new plan does not have.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from wizard.engine.remote import UNIT_STATE_DIR, RemoteNode, q

MANIFEST = "/var/lib/kubeha/installed.json"
MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Manifest:
    profile: str
    strategy: str
    files: tuple[str, ...]
    services: tuple[str, ...]
    run_id: str = ""

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def same_install(self, other: Manifest | None) -> bool:
        """The same profile, strategy, files and units, whichever run wrote them."""
        return other is not None and replace(self, run_id="") == replace(other, run_id="")

    @classmethod
    def parse(cls, text: str) -> Manifest | None:
        if len(text) > MAX_BYTES:
            return None
        try:
            data = json.loads(text)
            return cls(
                str(data["profile"]),
                str(data["strategy"]),
                tuple(str(f) for f in data["files"]),
                tuple(str(s) for s in data["services"]),
                str(data.get("run_id", "")),
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None


def read(node: RemoteNode) -> Manifest | None:
    text = node.read_text(MANIFEST)
    return None if text is None else Manifest.parse(text)


def write(node: RemoteNode, manifest: Manifest) -> None:
    node.write_private_file(MANIFEST, manifest.to_text())


def recorded_units(node: RemoteNode) -> list[str]:
    """Units kubeha recorded the original state of on this node (it changed them)."""
    result = node.sh(f"ls {q(UNIT_STATE_DIR)} 2>/dev/null || true")
    return [u for u in result.stdout.split() if u.endswith((".service", ".socket", ".timer"))]


def strategy_conflict(
    node: RemoteNode,
    manifest: Manifest | None,
    strategy: str,
    profile: str,
    services: tuple[str, ...],
) -> str | None:
    """Why this node, whose manifest (:func:`read`) is ``manifest``, cannot take ``strategy``
    in place, or None."""
    if manifest is not None:
        if manifest.strategy == strategy:
            return None
        return (
            f"this node runs kubeha's {manifest.strategy} (profile {manifest.profile!r}: "
            f"{', '.join(manifest.services)}); changing the strategy in place is refused before "
            f"anything changes: run `kubeha uninstall {manifest.profile}` first (it restores the "
            f"node), point the clients at the new endpoint, then apply this profile"
        )
    foreign = [
        unit
        for unit in recorded_units(node)
        if unit not in services and node.systemctl("is-active", "--quiet", unit).ok
    ]
    if not foreign:
        return None
    return (
        f"kubeha installed {', '.join(foreign)} on this node for another profile or strategy, "
        f"and it still runs; changing the strategy in place is refused before anything changes: "
        f"run `kubeha uninstall` with that profile first (it restores the node), then apply "
        f"this profile ({profile}, {strategy})"
    )
