"""Never every master out: a node whose checks all fail (every apiserver answering 401 to an
anonymous probe, or 500) keeps forwarding to every master, with the real programs against
stand-in apiservers in an empty network namespace (tests/support/all_failing_scenario.py); and the
health_check.auth modes read a hardened apiserver (anonymous 401, a client certificate read).

local-nginx and haproxy-keepalived: the session cutter (its refusals are what would cut nginx's
workers off); local-haproxy and haproxy-keepalived: the real haproxy with the rendered config;
ipvs: tests/wizard/strategies/test_ipvs_units.py (no IPVS in this kernel)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.all_failing_scenario import MASTERS
from tests.support.netns_scenario import cutter_text, in_empty_netns, loopback_profile
from wizard.profile import Profile
from wizard.strategies import haproxy_keepalived, local_haproxy

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0
    or not all(shutil.which(p) for p in ("unshare", "nft", "haproxy", "openssl", "setpriv")),
    reason="needs root, unshare, nft, haproxy, openssl and setpriv",
)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A self-signed certificate and key, and both in one PEM (a client certificate as kubelet's
    kubelet-client-current.pem holds it: the stand-ins trust it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=kube-apiserver", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    both = folder / "client.pem"
    both.write_text(cert.read_text() + key.read_text())
    return cert, key, both


def scenario(kind: str, file: Path, tls, codes: Path) -> dict:
    cert, key, _ = tls
    return in_empty_netns("all_failing_scenario", kind, str(file), str(cert), str(key), str(codes))


def answers(codes: Path, anonymous: int, authenticated: dict[str, int] | None = None) -> None:
    codes.mkdir(exist_ok=True)
    for address in MASTERS:
        (codes / address).write_text(f"{anonymous}\n")
        if authenticated:
            (codes / f"{address}.authenticated").write_text(f"{authenticated[address]}\n")


def cutter_file(profile: Profile, codes: Path, idle_ms: int | None = None) -> Path:
    """The rendered cutter with its /run paths in ``codes``; ``idle_ms``: how long a socket
    must have sent nothing to count as idle (the same rule at any value)."""
    text = cutter_text(profile, codes)
    if idle_ms is not None:
        assert "\nIDLE_MS=500\n" in text
        text = text.replace("\nIDLE_MS=500\n", f"\nIDLE_MS={idle_ms}\n")
    path = codes / "cutter.sh"
    path.write_text(text)
    return path


@needs_netns
@pytest.mark.parametrize("status", [401, 500])
def test_cutter_refuses_no_master_when_every_master_fails(tmp_path, tls, status):
    """Before: 0 of 3 masters reachable by the proxy's user once every probe failed."""
    codes = tmp_path / "codes"
    answers(codes, status)
    seen = scenario("cutter", cutter_file(loopback_profile("local-nginx"), codes), tls, codes)
    assert seen["reached_all_failing"] == list(MASTERS), seen
    assert seen["state_file_all_failing"], seen
    warnings = [line for line in seen["log"] if "WARNING: every master (3) fails" in line]
    assert len(warnings) >= 2, seen["log"]  # one per interval
    # One master reads again: the two still failing are refused as before.
    assert seen["reached_one_back"] == [MASTERS[0]], seen
    assert not seen["state_file_one_back"], seen


@needs_netns
@pytest.mark.parametrize(
    ("codes", "reached"),
    [((0, 500, 500), MASTERS[1:]), ((0, 0, 0), MASTERS)],
    ids=["one-silent-others-500", "none-answers"],
)
def test_cutter_keeps_a_silent_master_out_while_another_answers(tmp_path, tls, codes, reached):
    """A host gone while etcd elects a leader (the others' /readyz says 500): the silent master
    is out anyway and stays refused; when no master answers at all (the check path itself
    failing, a network blip), nothing is refused."""
    folder = tmp_path / "codes"
    answers(folder, 200)
    for address, status in zip(MASTERS, codes, strict=True):
        (folder / address).write_text(f"{status}\n")
    seen = scenario("cutter", cutter_file(loopback_profile("local-nginx"), folder), tls, folder)
    assert seen["reached_all_failing"] == list(reached), seen
    assert seen["state_file_all_failing"], seen


@needs_netns
@pytest.mark.parametrize("auth", ["client-cert", "alive-on-401"])
def test_cutter_reads_a_hardened_apiserver(tmp_path, tls, auth):
    """Anonymous /readyz answers 401, an authenticated one 200: both modes see every master up
    (nothing refused, no all-failing state)."""
    codes = tmp_path / "codes"
    answers(codes, 401, dict.fromkeys(MASTERS, 200))
    profile = loopback_profile("local-nginx", auth=auth, client_cert=str(tls[2]))
    seen = scenario("cutter", cutter_file(profile, codes), tls, codes)
    assert seen["reached_all_failing"] == list(MASTERS), seen
    assert not seen["state_file_all_failing"], seen
    assert not [line for line in seen["log"] if "WARNING" in line], seen["log"]


def haproxy_file(strategy: str, profile: Profile, folder: Path) -> Path:
    if strategy == "local-haproxy":
        text = (
            local_haproxy.config(profile)
            .replace(local_haproxy.ADMIN_SOCKET, str(folder / "admin.sock"))
            .replace(local_haproxy.STATS_SOCKET, str(folder / "stats.sock"))
        )
        text = "\n".join(
            line
            for line in text.splitlines()
            if line.strip() not in ("user haproxy", "group haproxy")
        )
    else:
        plan = haproxy_keepalived.plan(profile)
        node = plan.nodes[0]
        text = next(f.content for f in node.files if f.path.endswith("haproxy.cfg"))
        text = "\n".join(
            "    bind 127.0.0.1:8443" if line.strip().startswith("bind ") else line
            for line in text.splitlines()
        )
    path = folder / "haproxy.cfg"
    path.write_text(text + "\n")
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    return path


@needs_netns
@pytest.mark.parametrize("strategy", ["local-haproxy", "haproxy-keepalived"])
@pytest.mark.parametrize("status", [401, 500])
def test_haproxy_keeps_forwarding_when_every_check_fails(tmp_path, tls, strategy, status):
    """Before: `http-check expect status 200` marked every server down and no request got an
    answer (0 of 12); now the unchecked backups carry them to every master."""
    codes = tmp_path / "codes"
    answers(codes, status)
    config = haproxy_file(strategy, loopback_profile(strategy), tmp_path)
    seen = scenario("haproxy", config, tls, codes)
    assert seen["answered"] == seen["requests"], seen
    assert seen["masters_reached"] == list(MASTERS), seen
    if strategy == "local-haproxy":  # what `kubeha verify` reports on that node
        assert seen["stats_all_failing"].startswith("every master (3) fails"), seen


@needs_netns
@pytest.mark.parametrize("strategy", ["local-haproxy", "haproxy-keepalived"])
def test_haproxy_client_cert_reads_readiness(tmp_path, tls, strategy):
    """Anonymous 401 everywhere; with kubelet-style cert+key in one PEM the check reads /readyz:
    only the master whose authenticated /readyz says 200 gets requests (the others are down,
    the backups unused)."""
    codes = tmp_path / "codes"
    answers(codes, 401, {MASTERS[0]: 200, MASTERS[1]: 500, MASTERS[2]: 500})
    profile = loopback_profile(strategy, auth="client-cert", client_cert=str(tls[2]))
    seen = scenario("haproxy", haproxy_file(strategy, profile, tmp_path), tls, codes)
    assert seen["answered"] == seen["requests"], seen
    assert seen["masters_reached"] == [MASTERS[0]], seen
    assert not seen.get("stats_all_failing"), seen


@needs_netns
def test_haproxy_alive_on_401_counts_an_answer_as_up(tmp_path, tls):
    codes = tmp_path / "codes"
    answers(codes, 401)
    (codes / MASTERS[2]).write_text("500\n")  # a 500 is still a failure
    profile = loopback_profile("local-haproxy", auth="alive-on-401")
    seen = scenario("haproxy", haproxy_file("local-haproxy", profile, tmp_path), tls, codes)
    assert seen["answered"] == seen["requests"], seen
    assert seen["masters_reached"] == list(MASTERS[:2]), seen


@needs_netns
def test_cutter_cuts_every_session_to_a_silent_master_and_spares_a_request_to_an_answering_one(
    tmp_path, tls
):
    """A master whose host vanished (no TCP handshake) can answer nothing: every socket to it
    is cut, a request in flight included (before: spared while it sent within 0.5 s, so a
    kept-alive client waited for the cutter's next round). A master that fails its check but
    completes the handshake (draining) keeps a request it is answering; its idle watch is cut.
    A check interval of 4 s: a socket left for the next round is cut 4 s or more after the rest."""
    codes = tmp_path / "codes"
    answers(codes, 200)
    cert, key, _ = tls
    profile = loopback_profile("local-nginx", interval=4.0)
    seen = in_empty_netns(
        "cutter_cut_scenario",
        # 3 s, not 0.5 s: a loaded host may stall the scenario's sender (a byte every 0.1 s)
        # past half a second, and the request in flight would look idle.
        str(cutter_file(profile, codes, idle_ms=3000)),
        *(str(cert), str(key), str(codes)),
    )
    assert seen["open"] == ["answering_busy"], seen
    closed = seen["closed_s"]
    assert closed["silent_busy"] - closed["silent_watch"] < 2.0, seen  # the same round
    assert any("no TCP handshake: cutting every session" in line for line in seen["log"]), seen


def cut_behind_slow_tls(tmp_path, tls, interval: float, when: str = "") -> dict:
    """The cut scenario with 127.0.0.3's TLS taking 1.5 s, the cutter's timeout 4 s (its
    connect limit at its cap), a socket idle after 3 s; ``when="mid-probe"``: the drop while a
    probe of it waits on TLS."""
    codes = tmp_path / "codes"
    answers(codes, 200)
    cert, key, _ = tls
    profile = loopback_profile("local-nginx", interval=interval, timeout=4.0)
    return in_empty_netns(
        "cutter_cut_scenario",
        str(cutter_file(profile, codes, idle_ms=3000)),
        *(str(cert), str(key), str(codes), "1.5", *([when] if when else [])),
    )


@needs_netns
def test_a_silent_master_is_known_by_its_tcp_handshake_not_by_a_slow_tls_limit(tmp_path, tls):
    """The cutter's connect limit follows TCP + TLS (a slow node's TLS is not cut): with a
    master whose TLS takes 1.5 s it sits at its cap (4 s here), and a vanished master was given
    up on only after two probes of 4 s each: every session cut 8.8 s after the drop (two runs).
    The TCP handshake is now timed apart (0.25 s, and only a socket the kernel still holds in
    SYN-SENT counts: a kernel answers a SYN at once however slow its TLS): 1.5-1.6 s (four
    runs); at worst about 5.5 s (a probe under way at the drop still waits its 4 s). The slow
    TLS itself is never taken for a failure."""
    seen = cut_behind_slow_tls(tmp_path, tls, interval=1.0)
    assert not [line for line in seen["log_before_cut"] if "failed" in line], seen
    closed = seen["closed_s"]
    assert "silent_busy" in closed, seen
    assert closed["silent_busy"] < 6.5, seen  # before: 8.8 s
    assert any("no TCP handshake: cutting every session" in line for line in seen["log"]), seen


@needs_netns
def test_a_master_cut_while_its_probe_waits_on_tls_is_cut_without_waiting_an_interval(
    tmp_path, tls
):
    """The cut comes while the cutter's probe has its TCP connection and waits on TLS: that
    probe fails at its connect limit but not as silent, the next one is silent (1 of FALL 2),
    and the round cuts only the idle sockets, sparing the request in flight. It then slept an
    interval (4 s here) before the probe that made the master silent and cut the rest; now a
    silent probe short of FALL is followed at once by the next: the request in flight cut
    3.9 s after the drop (about the connect limit of the probe under way), 7.9 s before (two
    runs each)."""
    seen = cut_behind_slow_tls(tmp_path, tls, interval=4.0, when="mid-probe")
    assert seen["mid_probe"], seen
    closed = seen["closed_s"]
    assert "silent_busy" in closed, seen
    assert closed["silent_busy"] < 6.0, seen  # before: 7.9 s
    assert any("now gives no TCP handshake either" in line for line in seen["log"]), seen
