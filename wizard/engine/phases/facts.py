"""``facts``: what the node is before anything changes (:class:`FactsFound`): systemd, curl,
the distro, the strategy kubeha installed there (refused when another one holds the port,
taken over in place when this plan can: :func:`~wizard.engine.node_manifest.takes_over`), free
ports, and with ``[clients] repoint`` each listed kubeconfig present or not and its ``server:``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.engine import node_manifest
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
    # Another strategy's install this plan takes over in place (wizard.engine.phases.retire).
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
    job.keep(FactsFound(facts=found, installed=installed, retiring=retiring))
    for address, port in job.plan.ports:
        holder = found.port_in_use(address, port)
        if holder and not any(job.node.unit_state(s)[1] for s in ours):
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


def found(job: ApplyWork) -> FactsFound:
    """The facts record, for the phases after it (they run only once it passed)."""
    record = job.found(FactsFound)
    assert record is not None and record.facts is not None
    return record


PHASE: Phase[ApplyWork] = Phase(PhaseName.FACTS, 0.10, run=facts, dry_run=facts)
