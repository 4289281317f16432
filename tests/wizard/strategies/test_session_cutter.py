"""The session cutter's cut on this machine's loopback, with real sockets and the real ss: of
the connections to a failing master it destroys those that sent nothing for IDLE_MS (a watch
stream, a request whose answer never came) and spares a request sent just now (a draining
master still answers it; a dead one leaves it idle for the next round)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time

import pytest

from tests.support.examples import example_profile
from wizard.strategies.common import session_cutter_files

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="ss -K needs CAP_NET_ADMIN")


def cut_idle_function() -> str:
    script = session_cutter_files(example_profile("local-nginx"))[0].content
    idle = re.search(r"^IDLE_MS=\d+$", script, re.M)
    body = re.search(r"^cut_idle\(\) \{.*?^\}$", script, re.M | re.S)
    assert idle and body
    return f'log() {{ echo "$*" >&2; }}\n{idle.group(0)}\n{body.group(0)}\n'


def alive(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


@needs_root
def test_cut_idle_destroys_idle_sockets_and_spares_a_request_just_sent():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    watch = socket.create_connection(("127.0.0.1", port))  # a stream: the client never sends
    busy = socket.create_connection(("127.0.0.1", port))
    accepted = [server.accept()[0], server.accept()[0]]
    try:
        time.sleep(0.8)  # both idle for longer than IDLE_MS (0.5 s)
        busy.send(b"GET /version HTTP/1.1\r\n\r\n")  # a request on its way, just now
        subprocess.run(
            ["sh", "-c", cut_idle_function() + f'cut_idle m1 127.0.0.1 "{port}"'],
            check=True,
            timeout=30,
        )
        assert not alive(watch), "the idle stream to the failing master was left open"
        assert alive(busy), "a request sent just now was cut"
    finally:
        for sock in (watch, busy, server, *accepted):
            sock.close()


def cutter_functions(*names: str) -> str:
    """The cutter's shell functions ``names``, as rendered, with its TIMEOUT_MS line."""
    script = session_cutter_files(example_profile("local-nginx"))[0].content
    parts = [re.search(r"^TIMEOUT_MS=\d+$", script, re.M)]
    parts += [re.search(rf"^{name}\(\) \{{.*?^\}}$", script, re.M | re.S) for name in names]
    assert all(parts), names
    return "\n".join(p.group(0) for p in parts if p)


def shell(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30).stdout


def next_connect(this: str, previous: str, timeout_ms: int = 1000) -> str:
    """The next connect limit after connects of ``this`` and ``previous`` seconds (as curl
    prints them), in curl's seconds."""
    body = cutter_functions("to_ms", "to_seconds", "next_limit")
    return shell(
        f"{body}\nTIMEOUT_MS={timeout_ms}\nto_ms {this}; a=$ms; to_ms {previous}; "
        'next_limit "$a" "$ms"; to_seconds "$limit"; printf %s "$secs"'
    )


def test_connect_timeout_follows_the_slower_of_the_last_two_connects():
    assert next_connect("0.010", "0") == "0.250"  # a fast network: a vanished master in 0.25 s
    assert next_connect("0.200", "0.010") == "0.800"
    assert next_connect("0.010", "0.200") == "0.800"  # one fast connect does not forget a slow
    assert next_connect("0.600", "0.100") == "1.000"  # never above TIMEOUT
    assert next_connect("0.010", "0", timeout_ms=200) == "0.200"
    assert next_connect("0.187654", "0.3") == "1.000"
    assert next_connect("0.0625", "0.000001") == "0.250"


def test_the_loops_arithmetic_starts_no_process_and_reads_curls_times():
    """Every probe of every master ran an awk, a cat and an rm (26 ms of CPU per probe,
    bench/cutter_cost.py): the loop's arithmetic is now the shell's own, in milliseconds."""
    body = cutter_functions("to_ms", "to_seconds", "next_limit")
    cases = ["0.012345", "0.000000", "1.5", "12.000999", "000.050", "", "abc", "1e3", "0.0004"]
    got = shell(
        f'{body}\nfor t in {" ".join(repr(c) for c in cases)}; do to_ms "$t"; echo "$ms"; done'
    )
    assert got.split() == ["12", "0", "1500", "12000", "50", "0", "0", "0", "0"]
    secs = shell(f'{body}\nfor m in 5 250 999 1000 1250 0; do to_seconds "$m"; echo "$secs"; done')
    assert secs.split() == ["0.005", "0.250", "0.999", "1.000", "1.250", "0.000"]
    probe_loop = session_cutter_files(example_profile("local-nginx"))[0].content
    loop = re.search(r"^watch_master\(\) \{.*?^\}$", probe_loop, re.M | re.S)
    probe = re.search(r"^probe\(\) \{.*?^\}$", probe_loop, re.M | re.S)
    assert loop and probe
    for body_text in (loop.group(0), probe.group(0)):
        assert "awk" not in body_text and "cat " not in body_text, body_text
        assert not re.search(r"\$\((?!\()", body_text), body_text  # no $(...) subshell


REFUSE_CHECK = r"""
ip link set lo up
python3 -c 'import socket,time; s=socket.create_server(("127.0.0.1", 16443)); time.sleep(30)' &
server=$!
i=0; until ss -Hltn 'sport = :16443' | grep -q . || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
try() {  # user -> "ok" or "refused"
    runuser -u "$1" -- python3 -c 'import socket
try:
    socket.create_connection(("127.0.0.1", 16443), 2).close(); print("ok")
except ConnectionRefusedError:
    print("refused")'
}
echo "before $(try nobody)"
refuse add 127.0.0.1 16443
echo "blocked $(try nobody) root:$(try root)"
refuse delete 127.0.0.1 16443
echo "after $(try nobody)"
kill $server
"""


@needs_root
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft (Debian's nftables) not installed")
def test_a_failing_master_refuses_new_connections_of_the_proxy_not_of_root():
    """While a master fails, the proxy's (non-root) new connections to it are reset at once and
    retried elsewhere; the cutter's own probes (root) still reach it; back, nothing is refused.
    In a network namespace of its own: no rule ever touches this machine's."""
    script = session_cutter_files(example_profile("local-nginx"))[0].content
    setup = re.search(r"^NFT=0$.*?^refuse\(\) \{.*?^\}$", script, re.M | re.S)
    assert setup
    shell = f'log() {{ echo "$*" >&2; }}\n{setup.group(0)}\n{REFUSE_CHECK}'
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split("\n")[:3] == [
        "before ok",
        "blocked refused root:ok",
        "after ok",
    ], result.stdout + result.stderr


def test_a_socket_ss_shows_without_lastsnd_sent_just_now_and_is_spared(tmp_path):
    """ss prints ``lastsnd`` only when it is not 0: a socket that sent in this very clock tick
    (a request haproxy forwarded to a draining master a moment ago) has none, and cutting it
    failed that request (seen once in a drain drill: 1 request of 350). A stand-in ss on PATH
    answers the listing and records what the cutter asks it to destroy."""
    calls = tmp_path / "calls"
    listing = (
        "0 0 10.77.0.21:41000 10.77.0.11:6443\n"
        "\t cubic wscale:7,7 rto:204 lastsnd:900 lastrcv:100 lastack:100\n"
        "0 0 10.77.0.21:41001 10.77.0.11:6443\n"
        "\t cubic wscale:7,7 rto:204 lastrcv:700\n"
    )
    fake = tmp_path / "ss"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >>{calls}\n'
        f'case "$*" in -tniH*) printf %s {shlex.quote(listing)} ;; esac\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(
        ["sh", "-c", cut_idle_function() + "cut_idle m1 10.77.0.11 6443"],
        check=True,
        timeout=30,
        env=env,
    )
    destroyed = [line for line in calls.read_text().splitlines() if "established src" in line]
    assert destroyed == ["-K -n state established src 10.77.0.21:41000 dst 10.77.0.11:6443"]
