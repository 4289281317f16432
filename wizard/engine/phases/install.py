"""``install``: the distro packages of every program the plan needs that the node lacks (their
names on the node's family: ``wizard.packages``), with apt-get or dnf."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wizard.engine.events import Status
from wizard.engine.facts import Facts
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.phases.facts import found
from wizard.engine.work import ApplyWork
from wizard.packages import Package


@dataclass(frozen=True)
class Installed(Record):
    """``actions``: the packages installed (or, in a dry run, that would be)."""


def missing(packages: Iterable[Package], facts: Facts) -> list[str]:
    """The packages' names on the node's family, of each program the node lacks."""
    family, binaries = facts.family, facts.binaries
    return [
        name
        for package in packages
        if package.binary not in binaries
        for name in package.names(family)
    ]


def install(job: ApplyWork) -> Outcome:
    assert job.node is not None
    facts = found(job).facts
    assert facts is not None
    names = missing(job.plan.packages, facts)
    if not names:
        return Status.UNCHANGED, "packages present", ()
    family, binaries = facts.family, facts.binaries
    if family == "debian" and "apt-get" in binaries:
        apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
        argv = [*apt, "install", "-y", "-q", "--no-install-recommends", *names]
        update = job.node.run([*apt, "update", "-q"], timeout=600)
        if not update.ok:
            raise StepFailed("apt-get update failed", update.output_lines())
    elif family == "redhat" and "dnf" in binaries:
        argv = ["dnf", "install", "-y", "-q", *names]
    else:
        raise StepFailed(f"cannot install {' '.join(names)}: no apt-get or dnf on {facts.os}")
    result = job.node.run(argv, timeout=900)
    if not result.ok:
        raise StepFailed(f"installing {' '.join(names)} failed", result.output_lines())
    job.keep(Installed(actions=(f"installed {' '.join(names)}",)))
    return Status.CHANGED, f"installed {' '.join(names)}", ()


def would_install(job: ApplyWork) -> Outcome:
    facts = found(job).facts
    assert facts is not None
    names = missing(job.plan.packages, facts)
    if not names:
        return Status.UNCHANGED, "packages present", ()
    job.keep(Installed(actions=(f"install packages: {' '.join(names)}",)))
    return Status.INFO, f"would install {' '.join(names)}", ()


PHASE: Phase[ApplyWork] = Phase(PhaseName.INSTALL, 0.15, run=install, dry_run=would_install)
