"""The apply's phase list where its callers found it (:data:`APPLY`; each phase is its own
module in :mod:`wizard.engine.phases`, the list is :mod:`wizard.engine.phases.order`)."""

from __future__ import annotations

from typing import Any

from wizard.engine.phases.install import missing
from wizard.engine.phases.order import APPLY

__all__ = ["APPLY"]


def _missing(job: Any) -> list[str]:
    """The packages the install phase would add for ``job`` (its ``plan`` and ``facts``)."""
    return missing(job.plan.packages, job.facts)
