"""No phase writes another phase's record: existing engine scenarios (apply, re-apply, dry run,
rollback, cancel, clients repointed and put back, uninstall, a take-over and its undo) run again
while every record kept is matched with the phase the node was in. A record is kept only by the
phase whose module defines it, or by that phase's undo during the rollback."""

from __future__ import annotations

import dataclasses
import importlib
import threading
from collections import defaultdict

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import tests.wizard.engine.test_clients as clients_tests
import tests.wizard.engine.test_engine_units as units_tests
import tests.wizard.engine.test_strategy_take_over as take_over_tests
from tests.support.examples import example_profile
from tests.support.fake_node import FakeCluster
from tests.wizard.retrofit.test_cert_preflight import _ca
from wizard.engine.job import NodeWork
from wizard.engine.phase import PhaseName
from wizard.engine.phases.order import APPLY, UNINSTALL
from wizard.profile import Clients

OWNER = {}  # record class -> the title of the phase whose module defines it
for phase in (*APPLY, *UNINSTALL):
    module = importlib.import_module(phase.run.__module__)
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            OWNER[value] = phase.title


@pytest.fixture
def kept(monkeypatch):
    """record class -> the phases it was kept in, across every node of the scenario."""
    found: dict[type, set[str]] = defaultdict(set)
    now: dict[int, str] = {}
    lock = threading.Lock()
    keep, event = NodeWork.keep, NodeWork.event

    def watched_event(self, phase, status, *args, **kwargs):
        if status == "started":
            now[id(self)] = str(phase)
        return event(self, phase, status, *args, **kwargs)

    def watched_keep(self, record):
        with lock:
            found[type(record)].add(now.get(id(self), "?"))
        return keep(self, record)

    monkeypatch.setattr(NodeWork, "event", watched_event)
    monkeypatch.setattr(NodeWork, "keep", watched_keep)
    return found


def _pki():
    ca_key, ca = _ca()
    return ca_key, ca, ca.public_bytes(Encoding.PEM)


def _clients_profile():
    return dataclasses.replace(
        example_profile("local-nginx"), clients=Clients(repoint=True, repoint_local=True)
    )


def _nginx_cluster(profile):
    return FakeCluster([n.name for n in profile.all_nodes()])


SCENARIOS = {
    "fresh apply and re-apply": lambda: units_tests.test_second_apply_changes_and_restarts_nothing(
        p := example_profile("local-nginx"), _nginx_cluster(p)
    ),
    "config change": lambda: units_tests.test_config_change_reloads_and_unit_change_restarts(
        p := example_profile("local-nginx"), _nginx_cluster(p)
    ),
    "failed verify rolled back": lambda: units_tests.test_failed_verify_rolls_back_files_and_units(
        p := example_profile("local-nginx"), _nginx_cluster(p)
    ),
    "dry run": lambda: units_tests.test_dry_run_shows_diffs_and_changes_nothing(
        p := example_profile("local-nginx"), _nginx_cluster(p)
    ),
    "cancel mid run": lambda: units_tests.test_cancel_mid_run_rolls_back_what_was_not_verified(
        p := example_profile("local-nginx"), _nginx_cluster(p)
    ),
    "clients repointed": lambda: (
        clients_tests.test_apply_repoints_only_the_server_line_and_restarts_the_owner(
            _clients_profile(), _pki()
        )
    ),
    "clients put back": lambda: clients_tests.test_a_client_that_fails_its_check_is_put_back(
        _clients_profile(), _pki()
    ),
    "clients dry run": lambda: clients_tests.test_dry_run_shows_one_line_diffs_and_changes_nothing(
        _clients_profile(), _pki()
    ),
    "a run that died finished": lambda: (
        clients_tests.test_a_run_that_died_after_repointing_is_finished_by_the_next(
            _clients_profile(), _pki()
        )
    ),
    "uninstall": lambda: clients_tests.test_uninstall_points_clients_back_first(_pki()),
    "uninstall kept": lambda: (
        clients_tests.test_a_node_whose_clients_cannot_go_back_keeps_every_balancer(_pki())
    ),
    "take-over": take_over_tests.test_local_haproxy_takes_over_local_nginx_after_it_verified_beside_it,
    "take-over undone": take_over_tests.test_a_new_balancer_that_does_not_serve_alone_puts_the_old_one_back,
    "take-over dry run": take_over_tests.test_a_dry_run_says_it_would_take_over_and_stops_nothing,
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_record_is_kept_by_its_own_phase(scenario, kept) -> None:
    SCENARIOS[scenario]()  # the scenario's own assertions hold under the watch
    assert kept, "no record was kept"
    for kind, phases in kept.items():
        assert kind in OWNER, f"{kind.__name__} is kept but no listed phase defines it"
        assert phases <= {OWNER[kind], PhaseName.ROLLBACK.value}, (kind.__name__, phases)
