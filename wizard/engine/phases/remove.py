"""The uninstall's removal (:class:`Removed`): kubeha's services stopped, the plan's clean-up
run (ipvs: the virtual server and the VIP), every file kubeha replaced put back (the ones it
created removed; the plan's and those the node's manifest records: :func:`installed_parts`),
each unit back to the state it had before kubeha first touched it, the node's verified URL,
journal and manifest removed, and last the folders kubeha made
(``wizard.engine.remote.MADE_FOLDERS``) where they are empty. A balancer kubelet ran from a
static pod is waited on until kubelet has stopped it (its ports free), as ``systemctl stop``
waits for a unit: the next apply would otherwise find the port held.

A node whose manifest names another profile's install of another strategy (or one that shares
no unit with the plan) is left alone (:func:`foreign`): its clients use it.

It has no undo: a problem on one file or unit is reported and the rest is still removed; the
node is then ``broken`` and says why. Its events carry the phase name ``activate``, as they
always have (docs/JSON.md is a contract).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from wizard.engine import node_manifest, static_pod_folder
from wizard.engine.events import Status
from wizard.engine.facts import port_holder
from wizard.engine.node_journal import JOURNAL
from wizard.engine.node_manifest import MANIFEST
from wizard.engine.phase import Outcome, Phase, PhaseName
from wizard.engine.remote import VERIFIED_URL_FILE
from wizard.engine.work import Undone, UninstallWork

UNIT_NAME = re.compile(r"[A-Za-z0-9@._:-]+\.(service|socket|timer)")


@dataclass(frozen=True)
class Removed(Undone):
    """``changed_files``: the files restored or removed."""


def remove(job: UninstallWork) -> Outcome:
    node = job.node
    assert node is not None
    lines: list[str] = []
    problems: list[str] = []
    changed: list[str] = []

    def keep() -> None:
        job.keep(
            Removed(changed_files=tuple(changed), lines=tuple(lines), problems=tuple(problems))
        )

    manifest = node_manifest.read(node)
    if foreign(job, manifest):
        assert manifest is not None
        keep()
        return (
            Status.UNCHANGED,
            f"this node runs profile {manifest.profile!r}'s {manifest.strategy} "
            f"({', '.join(manifest.services)}), not this profile's install: left "
            f"running (its clients use it); `kubeha uninstall {manifest.profile}` removes it",
            (),
        )
    services, files = installed_parts(job, manifest)
    for unit in services:
        node.systemctl("stop", unit)
    for argv in job.plan.cleanup:  # e.g. ipvs: the virtual server and the VIP
        if node.run(list(argv), timeout=30).ok:
            lines.append(f"ran {' '.join(argv)}")
    for path in reversed(files):
        try:
            outcome = node.restore_original(path)
        except RuntimeError as exc:
            problems.append(str(exc))
            continue
        if outcome != "kept":
            lines.append(f"{outcome} {path}")
            changed.append(path)
            keep()
    if job.plan.static_pods:  # the manifests folder, when kubeha made it
        static_pod_folder.drop(node, job.plan.static_pods)
        if set(changed) & set(job.plan.static_pods):
            held = wait_ports_free(job, job.options.static_pod_verify_timeout)
            if held:
                problems.append(
                    f"kubelet has not stopped kubeha's static pod(s) within "
                    f"{job.options.static_pod_verify_timeout:g} s of their manifests leaving: "
                    f"{', '.join(held)} still listened on (is kubelet running?)"
                )
            else:
                lines.append("kubelet stopped kubeha's static pod(s): their ports are free")
    if any(p.startswith("/etc/systemd/system/") for p in job.folded("changed_files")):
        node.systemctl("daemon-reload")
    for unit in services:
        node.systemctl("reset-failed", unit)  # no "failed" left behind by a unit now gone
        before = node.recall_unit_state(unit)
        if before is None:
            continue
        enabled, active = before
        if node.systemctl("cat", unit, timeout=20).ok:
            node.systemctl("enable" if enabled else "disable", unit)
            if active and not node.systemctl("restart", unit).ok:
                problems.append(f"{unit} did not start on its original config")
        lines.append(
            f"{unit}: back to {'enabled' if enabled else 'disabled'}, {'running' if active else 'stopped'}"
        )
        node.forget_unit_state(unit)
    # A change an interrupted run left in the journal is undone with everything else.
    node.run(["rm", "-f", VERIFIED_URL_FILE, JOURNAL, MANIFEST])
    try:  # last: the folders kubeha made, where nothing is left in them
        lines.extend(f"removed folder {folder}" for folder in node.remove_made_folders())
    except RuntimeError as exc:
        problems.append(str(exc))
    keep()
    everything = job.folded("lines")  # the clients pointed back before it, and this
    status = Status.FAILED if job.problems else Status.CHANGED if everything else Status.UNCHANGED
    return status, job.message, everything


def foreign(job: UninstallWork, manifest: node_manifest.Manifest | None) -> bool:
    """The node's manifest names another profile's install of another strategy, or one that
    shares no unit with this plan: not this uninstall's to touch (not even the files both
    would name, /etc/hosts' line). A unit in common is not enough to make it this profile's:
    strategies share kubeha's helpers (the session cutter of local-nginx and local-haproxy,
    the agent), so only the same strategy under another profile name (a renamed profile) is
    taken for this profile's install."""
    if manifest is None or manifest.profile == job.profile_name:
        return False
    other_strategy = bool(job.strategy) and manifest.strategy != job.strategy
    return other_strategy or not set(manifest.services) & set(job.plan.services)


def installed_parts(
    job: UninstallWork, manifest: node_manifest.Manifest | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The units and files to give back: the plan's, and those the node's manifest records
    that the plan does not have (the profile edited since its apply: an agent turned off, a
    strategy changed; or the same install under another profile name). A recorded path is only
    ever put back as before kubeha (its backup or its "absent" mark), never removed on the
    manifest's word alone."""
    services = list(job.plan.services)
    files = [rendered.path for rendered in job.plan.files]
    if manifest is not None:
        services += [u for u in manifest.services if u not in services and UNIT_NAME.fullmatch(u)]
        files = [p for p in manifest.files if p not in files and p.startswith("/")] + files
    return tuple(services), tuple(files)


def wait_ports_free(job: UninstallWork, seconds: float) -> list[str]:
    """Until none of the plan's ports is listened on, at most ``seconds``: the ports still held
    (``address:port``) when it gave up."""
    assert job.node is not None
    deadline = time.monotonic() + seconds
    while True:
        listing = job.node.run(["ss", "-Htln"], timeout=20)
        listening = [
            line.split()[3] for line in listing.stdout.splitlines() if len(line.split()) > 3
        ]
        held = [f"{a}:{p}" for a, p in job.plan.ports if port_holder(listening, a, p)]
        if not held or not listing.ok or time.monotonic() >= deadline or job.cancel.is_set():
            return held if listing.ok else []
        time.sleep(0.5)


PHASE: Phase[UninstallWork] = Phase(PhaseName.ACTIVATE, 0.2, run=remove)
