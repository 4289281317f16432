"""The drill's and verify's parsing and definitions, on made-up node output (no lab)."""

from __future__ import annotations

import pytest

from wizard.engine.drill import SHORT, NodeDrill, loop_script, parse_loop, watch_url
from wizard.engine.verify import parse_probe

FAULT = (100.0, 100.05)


def lines(*rows: str) -> str:
    return "\n".join(rows)


def test_failed_lost_and_stalled_are_told_apart():
    out = lines(
        "T 95.0",
        "R 99.0 200 0.02 m1",
        "R 99.99 000 5.0 -",  # running at the fault: lost in flight
        "R 100.5 200 1.4 m2",  # stalled
        "R 101.0 000 0.8 -",  # started after the fault: failed
        "R 102.0 200 0.02 m3",
    )
    node = parse_loop("w1", out, FAULT)
    assert (node.requests, node.lost_in_flight, node.failed, node.stalled) == (5, 1, 1, 1)
    assert node.recovered_s == 4.99  # the lost request ended at 104.99
    assert node.masters == ("m1", "m2", "m3")
    assert not node.ok


def test_watch_gap_and_a_watch_that_never_came_back():
    back = lines(
        "R 99.0 200 0.02 m1",
        *(f"W 0 event {t}" for t in (98.0, 99.0, 100.0, 103.5, 104.5)),
        *(f"W 1 event {t}" for t in (98.2, 99.2, 100.2, 101.2)),
    )
    node = parse_loop("w1", back, FAULT)
    assert (node.watches, node.watches_interrupted, node.watch_back_s) == (2, 1, 3.5)
    assert node.ok
    never = lines("R 99.0 200 0.02 m1", "W 0 event 99.5")
    assert parse_loop("w1", never, FAULT).watch_back_s is None


def test_a_watch_the_fault_broke_for_less_than_the_long_gap_is_interrupted_too():
    """Last event 0.05 s before the fault, next 2.3 s later: shorter than the 2.5 s gap, yet its
    client waited 2.25 s after the fault (it counted as not interrupted, 0.0 s, before)."""
    out = lines(
        "R 99.0 200 0.02 m1",
        *(f"W 0 event {t}" for t in (98.0, 99.0, 100.0, 102.3, 103.3)),
        *(f"W 1 event {t}" for t in (98.4, 99.4, 100.4, 101.4, 102.4)),  # on time: untouched
        *(f"W 2 event {t}" for t in (98.7, 99.7, 101.6, 102.6)),  # 1.9 s: a loaded host's delay
    )
    node = parse_loop("w1", out, FAULT)
    assert (node.watches, node.watches_interrupted, node.watch_back_s) == (3, 1, 2.3)


def test_no_request_is_an_error_row():
    assert parse_loop("w1", "", FAULT) == NodeDrill(
        "w1", error="no request ran (the loop did not start)"
    )


def test_the_loop_is_bounded_and_quotes_its_urls():
    script = loop_script(
        "https://127.0.0.1:8443/readyz",
        watch_url("https://127.0.0.1:8443/readyz"),
        SHORT,
    )
    assert "'https://127.0.0.1:8443/api/v1/namespaces/default/pods?watch=true'" in script
    assert "while [ $n -lt 121 ]" in script and "-m 5" in script


def test_probe_parsing_names_the_master_or_says_it_is_unknown():
    ok = parse_probe("HTTP/1.1 200 OK\r\nX-Lab-Master: m2\r\n\r\nRESULT 200 0.012\n", "", 0)
    assert ok == (True, "200", 0.012, "m2", "")
    real = parse_probe("HTTP/2 200\r\n\r\nRESULT 200 0.01\n", "", 0)
    assert real[3] == "?"
    refused = parse_probe("RESULT 000 0.001\n", "curl: (7) Failed to connect", 7)
    assert refused == (False, "curl exit 7", 0.001, "-", "curl: (7) Failed to connect")


def test_a_profile_with_the_labs_qemu_guests_is_a_lab_profile(monkeypatch):
    """The ipvs lab profile lists QEMU guests as workers: the drill must use the lab's faults
    (and may cut) for it, not the real-cluster path that stops an apiserver over SSH."""
    import wizard.lab
    import wizard.lab.qemu
    from wizard.commands.lab_drill import is_lab_profile
    from wizard.lab.qemu import GuestState
    from wizard.lab.state import LabState, NodeState
    from wizard.profile_io import profile_from_dict

    nodes = [
        NodeState(f"m{i}", "master", f"10.77.0.1{i}", "127.0.0.1", 2210 + i, "ns", "/m")
        for i in (1, 2, 3)
    ]
    state = LabState(3, 0, 0, "/rootfs", "kubeha-lab", nodes, ready=True)
    guest = GuestState("q1", "10.77.0.41", "127.0.0.1", 2241, "tap-q1")
    monkeypatch.setattr(wizard.lab, "load_state", lambda: state)
    monkeypatch.setattr(wizard.lab.qemu, "read_guests", lambda: [guest])
    data = {
        "schema_version": 1,
        "name": "lab-ipvs",
        "strategy": "ipvs",
        "masters": [
            {"name": n.name, "address": n.address, "ssh": {"host": "127.0.0.1", "port": n.ssh_port}}
            for n in nodes
        ],
        "workers": [
            {"name": "q1", "address": "10.77.0.41", "ssh": {"host": "127.0.0.1", "port": 2241}}
        ],
    }
    profile = profile_from_dict(data).profile
    assert profile is not None
    assert is_lab_profile(profile)
    monkeypatch.setattr(wizard.lab.qemu, "read_guests", lambda: [])
    assert not is_lab_profile(profile)


def test_master_vip_holder_is_only_for_a_vip_strategy_and_resolves_to_one_holder():
    from tests.support.examples import example_profile
    from wizard.engine.drill_run import VIP_HOLDER, choose_master, resolve_vip_holder
    from wizard.errors import CheckFailed, KubehaError

    hk = example_profile("haproxy-keepalived")
    assert choose_master(hk, VIP_HOLDER) == VIP_HOLDER
    with pytest.raises(KubehaError, match="only a haproxy-keepalived profile has a VIP holder"):
        choose_master(example_profile("local-nginx"), VIP_HOLDER)
    first = hk.masters[0].name
    assert resolve_vip_holder(hk, [first], "kill") == first
    for holders in ([], [first, hk.masters[1].name]):
        with pytest.raises(CheckFailed, match="expected exactly one node holding the VIP"):
            resolve_vip_holder(hk, holders, "cut")
    with pytest.raises(CheckFailed, match="a load-balancer node with no apiserver"):
        resolve_vip_holder(hk, ["lb1"], "kill")
    assert resolve_vip_holder(hk, ["lb1"], "cut") == "lb1"


def test_kept_alive_client_figures_are_kept_apart():
    from wizard.engine.drill import kept_alive_script

    script = kept_alive_script("https://127.0.0.1:8443/version", SHORT)
    assert "--rate 10/s" in script and "timeout " in script
    assert script.count("https://127.0.0.1:8443/version") == 1  # the shell repeats it
    t0 = 1000.0
    lines = ["T 1000.0", f"KT {t0}"]
    # 30 requests 0.1 s apart; the 21st (t0 + 2.0, after the fault at t0 + 1.95) hangs 2.5 s and
    # fails, the next one opens a new connection and succeeds.
    for i in range(30):
        if i == 20:
            lines.append("K 000 2.5 0")
        elif i == 21:
            lines.append("K 200 0.02 1")
        else:
            lines.append(f"K 200 0.01 {1 if i == 0 else 0}")
    lines += ["R 1000.0 200 0.01 m1"]
    node = parse_loop("w1", "\n".join(lines), (t0 + 1.95, t0 + 1.96))
    assert node.ka_requests == 30
    assert node.ka_failed == 1 and node.ka_lost_in_flight == 0
    assert node.ka_connections == 2
    assert node.ka_back_s == pytest.approx(2.55, abs=0.01)  # the failed one ended at t0 + 4.5


def test_no_kept_alive_lines_means_not_measured():
    node = parse_loop("w1", "T 1000.0\nR 1000.0 200 0.01 m1\n", (1001.0, 1001.1))
    assert node.ka_requests == 0
    rows = drill_rows_for(node)
    assert rows[1][-2] == "not measured"


def drill_rows_for(node):
    from wizard.engine.drill import DrillReport, drill_rows

    return drill_rows(DrillReport("p", "local-nginx", "m1", "kill", True, (node,)))
