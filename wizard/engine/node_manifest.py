"""What kubeha installed on a node (``/var/lib/kubeha/installed.json``): the profile, the
strategy, the files and the units, written once the node is verified, removed by uninstall.

A run for another strategy on the same node must not write over it piecemeal. Where both
balancers listen on the same ports and share them (SO_REUSEPORT: local-nginx and local-haproxy),
the new one takes over in place (:func:`takes_over`; :mod:`wizard.engine.phases.retire` stops and removes
the old one once the new one verifies), and the node's clients keep the address they use. Any
other change (local-nginx there, haproxy-keepalived wanted: the clients' address changes) is
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
    ports: tuple[tuple[str, int], ...] = ()  # (address, port) its load balancer binds
    shares_port: bool = False  # bound with SO_REUSEPORT (``NodePlan.shares_port``)
    drain_signals: tuple[tuple[str, str], ...] = ()  # ``NodePlan.drain_signals``

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
                tuple((str(a), int(p)) for a, p in data.get("ports", ())),
                bool(data.get("shares_port", False)),
                tuple((str(u), str(sig)) for u, sig in data.get("drain_signals", ())),
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


def takes_over(
    manifest: Manifest | None,
    strategy: str,
    ports: tuple[tuple[str, int], ...],
    shares_port: bool,
) -> bool:
    """True when ``strategy`` can replace the node's other strategy in place: both balancers
    share the same ports (the clients' address stays), so the new one starts beside the old."""
    return (
        manifest is not None
        and manifest.strategy != strategy
        and shares_port
        and manifest.shares_port
        and bool(ports)
        and sorted(manifest.ports) == sorted(ports)
    )


def drops(
    manifest: Manifest | None, strategy: str, files: tuple[str, ...], services: tuple[str, ...]
) -> bool:
    """True when the node runs this strategy with parts the plan no longer has (the profile's
    ``[agent]`` turned off, the session cutter dropped, a path changed): the apply removes
    them once the plan verified, as a take-over removes the old strategy's."""
    return (
        manifest is not None
        and manifest.strategy == strategy
        and bool(set(manifest.files) - set(files) or set(manifest.services) - set(services))
    )


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
            f"{', '.join(manifest.services)}); {strategy} cannot take it over in place (only "
            f"node-local balancers on the same listen address and port can), so the change is "
            f"refused before anything changes: run `kubeha uninstall {manifest.profile}` first "
            f"(it restores the node), point the clients at the new endpoint, then apply this profile"
        )
    foreign = [
        unit
        for unit in recorded_units(node)
        if unit not in services and node.systemctl("is-active", unit).ok
    ]
    if not foreign:
        return None
    return (
        f"kubeha installed {', '.join(foreign)} on this node for another profile or strategy, "
        f"and it still runs; changing the strategy in place is refused before anything changes: "
        f"run `kubeha uninstall` with that profile first (it restores the node), then apply "
        f"this profile ({profile}, {strategy})"
    )
