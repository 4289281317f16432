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
