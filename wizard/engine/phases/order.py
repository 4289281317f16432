"""The ordered lists of phases a node job walks (:func:`wizard.engine.runner.run_phases`): a
new phase is its module in :mod:`wizard.engine.phases` plus one line here."""

from __future__ import annotations

from dataclasses import replace

from wizard.engine.phase import Phase
from wizard.engine.phases import (
    activate,
    clients,
    connect,
    facts,
    install,
    point_back,
    remove,
    retire,
    upload,
    verify,
)
from wizard.engine.work import ApplyWork, UninstallWork

APPLY: tuple[Phase[ApplyWork], ...] = (
    connect.PHASE,
    facts.PHASE,
    install.PHASE,
    upload.PHASE,
    activate.PHASE,
    verify.PHASE,
    clients.PHASE,  # only with [clients] repoint = true
    retire.PHASE,  # only when this strategy takes another's port over in place
)

UNINSTALL: tuple[Phase[UninstallWork], ...] = (
    replace(connect.PHASE, weight=0.2, dry_run=None),
    point_back.PHASE,  # only with [clients] repoint = true
    remove.PHASE,
)

CLIENTS_FIRST: tuple[Phase[UninstallWork], ...] = UNINSTALL[:2]  # connect, clients
