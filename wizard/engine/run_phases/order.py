"""The ordered lists of the run's own phases, walked by :func:`wizard.engine.apply.run_apply`
and ``run_uninstall`` with the same runner as a node's (:func:`wizard.engine.runner.walk`): a
new one is its module in :mod:`wizard.engine.run_phases` plus one line here."""

from __future__ import annotations

from wizard.engine.phase import Phase
from wizard.engine.run import Run
from wizard.engine.run_phases import (
    agent_access,
    build,
    check_auth,
    check_certs,
    cluster_check,
    disconnect,
    node_jobs,
    nodes,
    objects,
)

RUN_APPLY: tuple[Phase[Run], ...] = (
    build.PHASE,  # the strategy's prepare step (its build, e.g. local-nginx's kube-nginx)
    check_auth.PHASE,  # the nodes that run checks ask every master the checks' way
    check_certs.PHASE,  # only with [clients] repoint = true
    agent_access.PHASE,  # only with [agent] discovery = true: its token, before any node
    node_jobs.PHASE,
    nodes.PHASE,
    objects.PHASE,  # only with [clients] repoint = true: kubeadm's objects through the API
    agent_access.GIVE_BACK,  # only when discovery was turned off and every node gave its token
    cluster_check.PHASE,
    disconnect.PHASE,
)

RUN_UNINSTALL: tuple[Phase[Run], ...] = (
    build.PHASE,
    agent_access.PHASE,  # the agent's token files listed, so that the nodes remove them
    node_jobs.PHASE,
    objects.PHASE,  # kubeadm's objects given back before any node's clients
    nodes.PHASE,
    agent_access.GIVE_BACK,  # the agent's credentials, once no node's agent uses them
    disconnect.PHASE,
)
