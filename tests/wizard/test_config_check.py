"""Every rendered nginx, haproxy, keepalived and systemd file passes the real program's check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import realcheck
from tests.support.examples import section
from tests.support.render_cases import cases
from wizard.render import build_plan

PLANS = {name: build_plan(profile) for name, profile in cases().items()}


def files(suffix: str):
    for case, plan in PLANS.items():
        for node_plan in plan.nodes:
            for rendered in node_plan.files:
                if rendered.path.endswith(suffix):
                    yield pytest.param(case, node_plan, rendered, id=f"{case}-{node_plan.node}")


def write(tmp_path: Path, rendered) -> Path:
    path = tmp_path / Path(rendered.path).name
    path.write_text(rendered.content)
    return path


@pytest.mark.parametrize(("case", "node_plan", "rendered"), files("kube-nginx.conf"))
def test_nginx_accepts(case, node_plan, rendered, tmp_path):
    result = realcheck.check_nginx(write(tmp_path, rendered), realcheck.is_source_layout(rendered))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("case", "node_plan", "rendered"), files("haproxy.cfg"))
def test_haproxy_accepts(case, node_plan, rendered, tmp_path):
    result = realcheck.check_haproxy(write(tmp_path, rendered))
    assert result.returncode == 0, result.stderr


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="keepalived's check runs in a private namespace (root)"
)


@needs_root
@pytest.mark.parametrize(("case", "node_plan", "rendered"), files("keepalived.conf"))
def test_keepalived_accepts(case, node_plan, rendered):
    interface = section(PLANS[case].profile, "haproxy_keepalived").interface
    result = realcheck.check_keepalived(rendered, node_plan, interface)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("case", "node_plan", "rendered"), files(".sh"))
def test_shell_scripts_parse(case, node_plan, rendered, tmp_path):
    result = subprocess.run(
        ["sh", "-n", str(write(tmp_path, rendered))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("case", "node_plan", "rendered"), files(".service"))
def test_units_pass_systemd_analyze_verify(case, node_plan, rendered):
    assert realcheck.check_unit(rendered) == []


def test_the_checkers_really_reject_broken_files(tmp_path):
    """A check that accepts everything would prove nothing."""
    plan = PLANS["haproxy-keepalived"]
    node_plan = plan.nodes[0]
    by_name = {Path(f.path).name: f for f in node_plan.files}
    nginx = PLANS["local-nginx"].nodes[0].files[0]
    broken_nginx = tmp_path / "n.conf"
    broken_nginx.write_text(
        nginx.content.replace("proxy_pass kube_apiserver;", "proxy_pass kube_apiserver")
    )
    assert realcheck.check_nginx(broken_nginx, False).returncode != 0
    broken_haproxy = tmp_path / "h.cfg"
    broken_haproxy.write_text(
        by_name["haproxy.cfg"].content.replace("balance leastconn", "balance sideways")
    )
    assert realcheck.check_haproxy(broken_haproxy).returncode != 0
    if os.geteuid() == 0:
        import dataclasses

        keepalived = by_name["keepalived.conf"]
        broken = dataclasses.replace(
            keepalived, content=keepalived.content.replace("nopreempt", "nopreempt {")
        )
        assert realcheck.check_keepalived(broken, node_plan, "eth0").returncode != 0
