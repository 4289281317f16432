"""``verify``: a ready apiserver through the load balancer (and the plan's settle check); then
the URL that verified it, the node's manifest (a take-over's is written by ``retire``), and the
journal cleared: the change is done. A dry run verifies nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass

from wizard.engine import node_journal, node_manifest
from wizard.engine.events import Status
from wizard.engine.job import Record
from wizard.engine.phase import Outcome, Phase, PhaseName, StepFailed
from wizard.engine.phases.facts import found
from wizard.engine.phases.upload import uploaded
from wizard.engine.remote import VERIFIED_URL_FILE
from wizard.engine.work import ApplyWork


@dataclass(frozen=True)
class Verified(Record):
    message: str = ""  # what answered, and how fast


def _wait_settled(job: ApplyWork, seconds: float) -> tuple[bool, str]:
    """Runs the plan's settle check until it passes or ``seconds`` are up."""
    assert job.node is not None
    deadline = time.monotonic() + seconds
    while True:
        result = job.node.run(["sh", "-c", job.plan.settle_check], timeout=30)
        if result.ok:
            return True, ""
        lines = result.output_lines(1)
        if time.monotonic() >= deadline or job.cancel.is_set():
            return False, lines[-1] if lines else f"exit {result.returncode}"
        time.sleep(0.5)


def verify(job: ApplyWork) -> Outcome:
    assert job.node is not None
    began = time.monotonic()
    wait = job.options.verify_timeout
    if job.plan.static_pods:  # kubelet starts it
        wait = max(wait, job.options.static_pod_verify_timeout)
    ok, message = job.probe_until(wait)
    if not ok:
        raise StepFailed(f"no ready apiserver through the load balancer: {message}")
    if job.plan.settle_check:
        left = max(wait - (time.monotonic() - began), 1.0)
        settled, detail = _wait_settled(job, left)
        if not settled:
            raise StepFailed(f"the load balancer did not settle within the verify time: {detail}")
    if job.plan.files:
        job.node.write_small_file(VERIFIED_URL_FILE, job.plan.verify_url + "\n")
    facts = found(job)
    if job.plan.files and job.strategy and facts.retiring is None:  # a take-over: retire writes it
        manifest = job.new_manifest()
        if not manifest.same_install(facts.installed):  # a re-apply writes nothing
            node_manifest.write(job.node, manifest)
    files = uploaded(job)
    if files.journal is not None or files.inherited:
        node_journal.clear(job.node)
    job.keep(Verified(message=message))
    return Status.OK, message, ()


PHASE: Phase[ApplyWork] = Phase(PhaseName.VERIFY, 0.15, run=verify)  # a dry run verifies nothing
