"""verify's certificate check: the probe uses the cluster CA when one is known, says so in the
table, and never checks nothing silently; --ca-file is checked before any connection."""

from __future__ import annotations

import pytest

from wizard.cli import main
from wizard.engine.verify import NodeCheck, VerifyReport, report_lines


def _report(ca_file):
    node = NodeCheck(
        "w1", "https://127.0.0.1:8443/readyz", True, "200", 0.01, "m1", "", None, (), ca_file
    )
    return VerifyReport("p", "local-nginx", (node,), (), ca_file)


def test_the_table_says_whether_certificates_were_checked():
    assert "certificates checked against /ca.crt and the name clients dial" in report_lines(
        _report("/ca.crt")
    )
    assert any("/etc/kubernetes/pki/ca.crt" in line for line in report_lines(_report(None)))
    assert any("certificate not checked" in line for line in report_lines(_report(None)))


@pytest.mark.parametrize("bad", ["ca.crt", "/etc/../ca.crt", "/etc/ca crt"])
def test_a_bad_ca_file_is_refused_before_any_connection(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "profiles/local-nginx.toml", "--ca-file", bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--ca-file" in err and "absolute path" in err


class _Node:
    """Answers the verify probe (200) and the all-masters-failing state file."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    def sh(self, script, timeout=120):
        from wizard.command_result import CommandResult

        if "CA-REFUSED" in script:
            return CommandResult(("sh",), 0, "CA /etc/kubernetes/pki/ca.crt\nRESULT 200 0.01\n", "")
        if "all-masters-failing" in script:
            return CommandResult(("sh",), 0, self.failing, "")
        return CommandResult(("sh",), 0, "", "")

    def run(self, argv, timeout=120):
        from wizard.command_result import CommandResult

        return CommandResult(tuple(argv), 0, "", "")


def test_verify_reports_a_node_whose_checks_say_every_master_fails():
    from tests.support.examples import example_profile
    from wizard.engine.verify import check_node
    from wizard.strategies import registry

    profile = example_profile("local-nginx")
    strategy = registry.get("local-nginx")
    line = "every master (3) fails its check since 2026-12-06T01:00:00Z: nothing cut\x1b[2J"
    check = check_node(_Node(line), "w1", "https://x/readyz", 5, profile, strategy)
    assert check.ok and check.ca_file == "/etc/kubernetes/pki/ca.crt"
    assert check.all_failing.startswith("ALL MASTERS FAILING ITS CHECKS: every master (3)")
    assert "\x1b" not in check.all_failing  # a node's text is printed escaped
    quiet = check_node(_Node(""), "w1", "https://x/readyz", 5, profile, strategy)
    assert quiet.all_failing == ""
