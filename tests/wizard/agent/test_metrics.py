"""What a node's agent exposes (wizard.agent.metrics): Prometheus text that reads back."""

from __future__ import annotations

from wizard.agent.metrics import NodeFigures, parse, render
from wizard.agent.roster import Member, Roster, next_roster

M1, M2, M3 = Member("10.77.0.11", 6443), Member("fd77::12", 6443), Member("10.77.0.13", 6443)


def test_every_master_and_the_node_figures_read_back():
    roster = next_roster(Roster.seeded([M1, M2, M3]), [M1, M2], lambda _: True)
    node = NodeFigures(roster, balancer_up=True)
    node.figures(M1).up = True
    node.figures(M1).connections = 7
    node.figures(M2).failures_total = 3
    node.figures(M1).check_seconds = 0.004
    found = parse(render(node))
    assert found["kubeha_master_up"]['master="10.77.0.11:6443"'] == 1
    assert found["kubeha_master_up"]['master="[fd77::12]:6443"'] == 0
    assert found["kubeha_master_connections"]['master="10.77.0.11:6443"'] == 7
    assert found["kubeha_master_check_failures_total"]['master="[fd77::12]:6443"'] == 3
    assert found["kubeha_master_draining"]['master="10.77.0.13:6443"'] == 1
    assert found["kubeha_master_check_seconds"]['master="10.77.0.11:6443"'] == 0.004
    assert set(found["kubeha_master_listed"].values()) == {1}
    assert found["kubeha_balancer_up"][""] == 1
    assert found["kubeha_list_generation"][""] == 2
    assert found["kubeha_discovery_source"]['source="endpoints"'] == 1
    assert found["kubeha_discovery_source"]['source="seed"'] == 0


def test_every_family_has_help_and_type_lines():
    text = render(NodeFigures(Roster.seeded([M1])))
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[0] != "#"}
    assert samples <= names


def test_a_master_that_left_the_list_is_still_counted_but_not_listed():
    """Its counters go on (a scrape never sees a counter vanish), and ``listed`` says it is no
    longer one of the node's masters (``kubeha status`` shows it removed)."""
    node = NodeFigures(Roster.seeded([M1, M2]), balancer_up=True)
    node.figures(M3).failures_total = 4  # counted while it was in the list
    found = parse(render(node))
    assert found["kubeha_master_listed"] == {
        'master="10.77.0.11:6443"': 1,
        'master="[fd77::12]:6443"': 1,
        'master="10.77.0.13:6443"': 0,
    }
    assert found["kubeha_master_check_failures_total"]['master="10.77.0.13:6443"'] == 4


def test_discovery_reads_and_failures_read_back():
    """The list's source stays "seed" while the Endpoints name the seed's masters: these say
    whether discovery works at all."""
    node = NodeFigures(Roster.seeded([M1]))
    found = parse(render(node))
    assert found["kubeha_discovery_reads_total"][""] == 0
    assert found["kubeha_discovery_read_timestamp_seconds"][""] == 0
    node.discovery_read(True, 1_700_000_000.5)
    node.discovery_read(False, 1_700_000_001.0)
    node.discovery_read(True, 1_700_000_002.25)
    found = parse(render(node))
    assert found["kubeha_discovery_reads_total"][""] == 2
    assert found["kubeha_discovery_failures_total"][""] == 1
    assert found["kubeha_discovery_read_timestamp_seconds"][""] == 1_700_000_002.25
