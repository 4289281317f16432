"""``facts``: what the node is before anything changes (:class:`FactsFound`): systemd, curl,
the distro, the strategy kubeha installed there (refused when another one holds the port,
taken over in place when this plan can: :func:`~wizard.engine.node_manifest.takes_over`; the
same one with parts the plan no longer has: :func:`~wizard.engine.node_manifest.drops`), free
ports, the settings it does not change in place (:mod:`wizard.engine.in_place`), and with
``[clients] repoint`` each listed kubeconfig present or not and its ``server:``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.backups import ABSENT, beside, hidden
from wizard.engine import in_place, node_manifest
from wizard.engine.clients import kubeconfigs_now, not_regular
from wizard.engine.events import Status
from wizard.engine.facts import Facts, gather
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.work import ApplyWork
from wizard.retrofit.kubeconfig import KubeconfigNow


@dataclass(frozen=True)
class FactsFound(Record):
    facts: Facts | None = None
    installed: node_manifest.Manifest | None = None  # what the node said kubeha installed
    # An install whose parts this plan drops once it verified (wizard.engine.phases.retire):
    # another strategy's, taken over in place, or this strategy's with parts the profile no
    # longer has (an agent turned off).
    retiring: node_manifest.Manifest | None = None
    kubeconfigs: tuple[KubeconfigNow, ...] = ()  # the listed kubeconfigs as found


def facts(job: ApplyWork) -> Outcome:
    assert job.node is not None
    found = gather(job.node)
    job.keep(FactsFound(facts=found))
    if found.init != "systemd":
        raise StepFailed(f"needs systemd as init, found {found.init or 'unknown'}")
    if "curl" not in found.binaries:
        raise StepFailed("needs curl on the node to verify the load balancer")
    if job.auth_check is not None:  # as the run's auth preflight asks its first nodes
        problems = job.auth_check(job.name, job.node)
        if problems:
            raise StepFailed("; ".join(problems) + "; nothing was changed on this node")
    ours = job.plan.services
    installed = retiring = None
    if job.strategy:
        installed = node_manifest.read(job.node)
        taken = node_manifest.takes_over(
            installed, job.strategy, job.plan.ports, job.plan.shares_port
        )
        if taken and installed is not None:
            retiring = installed
            ours = (*ours, *installed.services)  # the port holder it takes over from
        else:
            conflict = node_manifest.strategy_conflict(
                job.node, installed, job.strategy, job.profile_name, job.plan.services
            )
            if conflict:
                raise StepFailed(conflict)
            paths = tuple(f.path for f in job.plan.files)
            if node_manifest.drops(installed, job.strategy, paths, job.plan.services):
                retiring = installed  # its parts this plan no longer has go once it verified
    job.keep(FactsFound(facts=found, installed=installed, retiring=retiring))
    if installed is not None and installed.strategy == job.strategy:
        refused = in_place.refusal(job.name, job.plan, installed.files, job.node.read_text)
        if refused:
            raise StepFailed(refused)
    ours_running = False
    if job.plan.static_pods:
        static_pod_preflight(job, installed)
        # kubelet runs kubeha's pod here already (a re-apply): the port is its own
        ours_running = installed is not None and installed.strategy == job.strategy
    elif installed is not None and installed.strategy == job.strategy:
        refuse_run_as_change(job, installed, "a static pod", "its systemd unit")
    for address, port in job.plan.ports:
        holder = found.port_in_use(address, port)
        if holder and not ours_running and not any(job.node.unit_state(s)[1] for s in ours):
            raise StepFailed(
                f"port {port} on {address} is already in use ({holder}) by something that is not kubeha's "
                f"{', '.join(job.plan.services)}; free it or choose another port in the profile"
            )
    message = f"{found.os} ({found.family}), init {found.init}"
    if job.clients is None:
        return Status.OK, message, ()
    odd = not_regular(job.node, job.clients)
    if odd:  # before any change on the node: nothing is installed, nothing repointed
        raise StepFailed(
            f"node {job.name}: {'; '.join(odd)}: expected a kubeconfig file, or nothing, at "
            "each path of [clients] kubeconfigs; nothing was changed on this node"
        )
    kubeconfigs = kubeconfigs_now(job.node, job.clients)
    job.keep(
        FactsFound(facts=found, installed=installed, retiring=retiring, kubeconfigs=kubeconfigs)
    )
    present = sum(k.present for k in kubeconfigs)
    message += f"; {present} of {len(kubeconfigs)} listed kubeconfig(s) here"
    return Status.OK, message, tuple(k.line for k in kubeconfigs)


KUBELET = "kubelet.service"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"  # kubeadm's KubeletConfiguration


def kubelet_static_pod_path(config: str) -> str:
    """``staticPodPath`` of a KubeletConfiguration (a top-level key), or ""."""
    for line in config.splitlines():
        key, _, value = line.partition(":")
        if key == "staticPodPath":
            return value.strip().strip("'\"")
    return ""


def static_pod_preflight(job: ApplyWork, installed: node_manifest.Manifest | None) -> None:
    """A static pod needs kubelet running, and its manifest's path free or kubeha's own (a
    manifest kubeha did not write is never replaced); a node where kubeha runs this strategy
    as a systemd unit is not switched in place."""
    assert job.node is not None
    if not job.node.systemctl("is-active", KUBELET).ok:
        raise StepFailed(
            f"node {job.name}: [balancer] run_as 'static-pod' needs kubelet running on the node "
            f"(systemctl is-active {KUBELET} says it is not); kubelet runs the balancer's "
            "static pod: start kubelet, or choose run_as 'systemd' for this profile; nothing "
            "was changed on this node"
        )
    read_from = kubelet_static_pod_path(job.node.read_text(KUBELET_CONFIG) or "")
    for folder in sorted({path.rsplit("/", 1)[0] for path in job.plan.static_pods}):
        if read_from and read_from.rstrip("/") != folder:
            raise StepFailed(
                f"node {job.name}: kubelet runs the static pods of {read_from} (staticPodPath "
                f"in {KUBELET_CONFIG}), not of {folder}: set [balancer] manifests_dir to "
                f"{read_from}; nothing was changed on this node"
            )
        kind = job.node.file_kind(folder)
        # kubelet does not make its folder (kubeadm's join leaves a worker without one): the
        # upload makes it when kubelet's config names it, and the uninstall removes it again.
        if kind is None and read_from.rstrip("/") == folder:
            continue
        if kind != "a folder":
            raise StepFailed(
                f"node {job.name}: {folder} is {kind or 'not there'}: expected kubelet's "
                f"manifests folder ([balancer] manifests_dir, staticPodPath in {KUBELET_CONFIG}); "
                "nothing was changed on this node"
            )
    for path in job.plan.static_pods:
        if (
            job.node.file_kind(path) is not None
            and job.node.file_kind(beside(path, ABSENT)) is None
        ):
            raise StepFailed(
                f"node {job.name}: {path} is already there and kubeha did not write it; kubeha "
                "never replaces a static pod manifest it did not write: move it away or choose "
                "another [balancer] manifests_dir; nothing was changed on this node"
            )
    if installed is not None and installed.strategy == job.strategy:
        refuse_run_as_change(job, installed, "its systemd unit", "a static pod")


def refuse_run_as_change(
    job: ApplyWork, installed: node_manifest.Manifest, was: str, wanted: str
) -> None:
    """Refuses switching the balancer between a unit and a static pod in place: both would
    hold the port (the old one is not stopped by the new plan)."""
    pod_before = any(hidden(path) for path in installed.files)
    if pod_before == bool(job.plan.static_pods):
        return
    raise StepFailed(
        f"node {job.name}: kubeha runs {installed.strategy} here as {was} (profile "
        f"{installed.profile!r}); switching [balancer] run_as to {wanted} in place is refused "
        f"before anything changes: run `kubeha uninstall {installed.profile}` first (it "
        "restores the node), then apply this profile"
    )


def found(job: ApplyWork) -> FactsFound:
    """The facts record, for the phases after it (they run only once it passed)."""
    record = job.found(FactsFound)
    assert record is not None and record.facts is not None
    return record


PHASE: Phase[ApplyWork] = Phase(PhaseName.FACTS, 0.10, run=facts, dry_run=facts)
