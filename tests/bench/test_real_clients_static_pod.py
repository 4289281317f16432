"""bench.real_clients --static-pod: the kubeadm lab's balancers as static pods (the lab's
``lab-<strategy>-static-pod`` profiles), their rows named apart; refused on the other labs."""

from __future__ import annotations

import types

import pytest

from bench import real_clients
from wizard.lab import constants, lab
from wizard.lab import control_plane as cp
from wizard.lab.state import LabState, NodeState


def kubeadm_lab() -> types.SimpleNamespace:
    """A kubeadm lab's state as build_profile reads it (no lab runs)."""
    state = LabState(3, 2, 0, rootfs="/r", bridge_netns="kubeha-lab", control_plane=cp.KUBEADM)
    for spec in lab.plan(3, 2, 0):
        node = NodeState(spec.name, spec.role, spec.address, "127.0.0.1",
                         constants.ssh_port(spec.address), constants.node_netns(spec.name),
                         merged="/m")  # fmt: skip
        state.nodes.append(node)
    return types.SimpleNamespace(state=state)


def test_static_pod_is_refused_without_the_kubeadm_lab(capsys):
    with pytest.raises(SystemExit) as exit_:
        real_clients.main(["--static-pod"])
    assert exit_.value.code == 2
    assert "--static-pod: only with --control-plane kubeadm" in capsys.readouterr().err


@pytest.mark.parametrize("static_pod", [False, True])
def test_the_kubeadm_lab_deploys_the_chosen_install_and_names_its_rows(monkeypatch, static_pod):
    lab = kubeadm_lab()
    monkeypatch.setattr(real_clients, "STATIC_POD", static_pod)
    for strategy in real_clients.NSPAWN_STRATEGIES:
        profile = real_clients.deployment(lab, strategy).profile  # type: ignore[arg-type]
        assert profile.clients.repoint  # the kubeadm lab profile's, either way
        want = f"{strategy} (static pod)" if static_pod else strategy
        assert real_clients.row_name(profile) == want
