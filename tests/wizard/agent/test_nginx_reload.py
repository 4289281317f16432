"""The agent's nginx hands (wizard.agent.nginx) on a real nginx running the config kubeha
renders for local-nginx (one master on loopback, its upstream's servers moved to the include the
agent owns, its paths in a temporary folder): a master added carries new connections after the
reload, a drained one is `down` yet keeps its open connection, a list nginx refuses leaves the
previous file and the running list."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.deadlines import on_loaded_host
from tests.wizard.agent.conftest import MASTERS, ask, connect, free_port, reached, wait_for
from wizard.agent.loop import BalancerError
from wizard.agent.nginx import NginxFiles, upstream_lines
from wizard.agent.roster import Member, Roster, next_roster


def rendered_config(tmp: Path, apiserver_port: int, listen_port: int) -> str:
    profile = tmp / "p.toml"
    profile.write_text(
        'schema_version = 1\nname = "agent-test"\nstrategy = "local-nginx"\n'
        f'[[masters]]\nname = "m1"\naddress = "{MASTERS[0]}"\napiserver_port = {apiserver_port}\n'
        f'[local_nginx]\nlisten_address = "127.0.0.1"\nlisten_port = {listen_port}\n'
    )
    out = tmp / "rendered"
    subprocess.run(
        [sys.executable, "-m", "wizard", "render", str(profile), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = next(out.rglob("kube-nginx.conf")).read_text()
    text = re.sub(
        r"^\s*server \S+:\d+ .*# m1$", f"        include {tmp}/upstream.conf;", text, flags=re.M
    )
    assert f"include {tmp}/upstream.conf;" in text
    return text.replace("pid /run/kube-nginx.pid;", f"pid {tmp}/nginx.pid;")


@pytest.fixture
def nginx(tmp_path, masters):
    listen = free_port()
    config = tmp_path / "kube-nginx.conf"
    text = rendered_config(tmp_path, masters, listen)
    config.write_text(text)
    params = "max_fails=2 fail_timeout=10s"
    seed = Roster.seeded([Member(MASTERS[0], masters)])
    (tmp_path / "upstream.conf").write_text(upstream_lines(seed, params))
    files = NginxFiles(str(tmp_path / "upstream.conf"), str(config), params=params)
    # nginx forks its daemon, which keeps stderr (error_log stderr): a file, not a pipe
    with (tmp_path / "nginx.err").open("w") as err:
        started = subprocess.run(
            ["/usr/sbin/nginx", "-c", str(config)], stdout=err, stderr=err, timeout=60
        )
    assert started.returncode == 0, (tmp_path / "nginx.err").read_text()
    deadline = time.monotonic() + on_loaded_host(10)
    while not files.up():
        assert time.monotonic() < deadline, "nginx did not start"
        time.sleep(0.1)
    pid = int((tmp_path / "nginx.pid").read_text())
    yield files, seed, listen, pid
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + on_loaded_host(20)
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)


def test_added_then_drained_through_a_reload(nginx, masters):
    files, seed, listen, pid = nginx
    assert reached(listen, 3) == {MASTERS[0]}
    held = connect(listen)
    assert ask(held) == MASTERS[0]

    added = next_roster(seed, [Member(a, masters) for a in MASTERS[:2]], lambda _: True)
    files.apply(added)
    wait_for(lambda: MASTERS[1] in reached(listen, 6), 20, "m2 never carried a connection")

    drained = next_roster(added, [Member(MASTERS[1], masters)], lambda _: True)
    files.apply(drained)
    assert "down;" in Path(files.upstream_file).read_text()
    wait_for(lambda: reached(listen, 6) == {MASTERS[1]}, 20, "m1 still took new connections")
    assert ask(held) == MASTERS[0], "the drained master's open connection was closed at once"
    held.close()
    os.kill(pid, 0)  # the same master process all along: reloaded, never restarted


def test_a_list_nginx_refuses_leaves_the_running_one(nginx, masters):
    files, seed, listen, _ = nginx
    before = Path(files.upstream_file).read_text()
    broken = NginxFiles(files.upstream_file, files.config, params="bogus=1")
    added = next_roster(seed, [Member(a, masters) for a in MASTERS[:2]], lambda _: True)
    with pytest.raises(BalancerError, match="nginx -t refused"):
        broken.apply(added)
    assert Path(files.upstream_file).read_text() == before
    assert reached(listen, 4) == {MASTERS[0]}
