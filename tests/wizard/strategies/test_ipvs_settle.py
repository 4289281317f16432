"""The ipvs settle check: apply's verify waits until the node's table holds every master that
answers. The script runs here with stand-ins for ipvsadm and curl on PATH (no network)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.examples import example_profile
from wizard.strategies.ipvs import plan

TABLE = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.103.97.2:6443 rr
{rows}"""


def run_check(
    tmp_path: Path,
    in_table: list[str],
    answering: list[str],
    no_vs: bool = False,
    profile=None,
):
    script = plan(profile or example_profile("ipvs")).nodes[0].settle_check
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    rows = "".join(f"  -> {rs}              Masq    1      0          0\n" for rs in in_table)
    (tmp_path / "table").write_text(TABLE.format(rows=rows))
    (tmp_path / "answering").write_text("".join(f"{rs}\n" for rs in answering))
    table = "exit 1" if no_vs else f'cat "{tmp_path}/table"'
    (bin_dir / "ipvsadm").write_text(f"#!/bin/sh\n{table}\n")
    # curl stand-in: 200 for a master listed in `answering`, 000 otherwise.
    (bin_dir / "curl").write_text(
        "#!/bin/sh\nfor a; do url=$a; done\nrs=${url#https://}; rs=${rs%%/*}\n"
        f'if grep -qxF -- "$rs" "{tmp_path}/answering"; then printf 200; else printf 000; fi\n'
    )
    for name in ("ipvsadm", "curl"):
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)


MASTERS = ["192.0.2.11:6443", "192.0.2.12:6443", "192.0.2.13:6443"]


def test_settled_when_every_answering_master_is_in_the_table(tmp_path):
    assert run_check(tmp_path, MASTERS, MASTERS).returncode == 0


def test_a_dead_master_out_of_the_table_is_settled(tmp_path):
    assert run_check(tmp_path, MASTERS[:2], MASTERS[:2]).returncode == 0


def test_an_answering_master_missing_from_the_table_is_not_settled(tmp_path):
    result = run_check(tmp_path, MASTERS[:1], MASTERS)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "answering but not yet in the IPVS table: 192.0.2.12:6443 192.0.2.13:6443"
    )


def test_no_virtual_server_is_not_settled(tmp_path):
    result = run_check(tmp_path, MASTERS, MASTERS, no_vs=True)
    assert result.returncode == 1
    assert "no virtual server 10.103.97.2:6443" in result.stdout


def test_ipv6_masters_in_the_table_are_found(tmp_path):
    """ipvsadm lists an IPv6 real server as ``[fd00::1]:6443``: the brackets are matched as
    text, not as a grep character class (which found none: apply's verify never settled)."""
    from tests.support.render_cases import cases

    v6 = ["[2001:db8::11]:6443", "[2001:db8::12]:6443", "[2001:db8::13]:6443"]
    profile = cases()["ipvs-ipv6"]
    assert run_check(tmp_path, v6, v6, profile=profile).returncode == 0
    result = run_check(tmp_path, v6[:2], v6, profile=profile)
    assert result.stdout.strip() == "answering but not yet in the IPVS table: [2001:db8::13]:6443"
