"""The ipvs strategy on a real IPVS kernel: a QEMU lab node (q1, Debian's stock kernel under
software emulation, systemd and sshd) with the three nspawn masters as real servers.

Apply, requests through the VIP, the checker removing a killed and a cut master within
interval x fall + 1 s, adding them back, restoring a wiped virtual server, keeping every master
when all fail, a no-op re-apply and an uninstall that leaves no rule and no VIP. The tests run
in order; the module adds q1 to the standard lab and removes it at the end."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import subprocess
import threading
import time

import pytest

from tests.support.deadlines import on_loaded_host
from tests.support.examples import section
from tests.support.labkit import Recorder
from tests.support.loadloop import _script
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions, NodeState
from wizard.lab import qemu
from wizard.lab.constants import IPVS_VIP
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan
from wizard.strategies.ipvs import DUMMY_INTERFACE, UNIT

# The QEMU guest boots a full Debian under software emulation: 12-15 s on a quiet host.
pytestmark = pytest.mark.lab

VS = f"{IPVS_VIP}:6443"
URL = f"https://{IPVS_VIP}:6443/readyz"
FALL, RISE = 2, 2
FIGURES: dict[str, object] = {}


@dataclasses.dataclass(frozen=True)
class Timing:
    """The checker's settings and the tests' bounds, derived from a probe round measured on the
    guest: under software emulation one round (a curl start and three TLS handshakes) takes
    1.3-2 s of the guest's one CPU on a quiet host and twice that on a busy or slower one.

    - timeout: a probe of a live master must finish well within it: 2.5 rounds, at least 3 s;
    - interval: at least two rounds plus a second between rounds, so the guest is not probing
      all the time (at 2 s a busy host starved the guest until masters flapped), at least 4 s;
    - removal bound: a dead master waits for the next round (one interval), fails it (a cut
      master only when the connect timeout, at most the timeout, runs out), is probed again a
      quarter interval later (fastinter), fails again and is out; plus a round and a second.
      The checker's connect timeout adapts to the guest's TLS handshakes (at least 0.5 s)."""

    round_s: float
    interval: float
    timeout: float
    ssh_s: float = 0.0  # one command over SSH into the guest: how finely a test can look

    @classmethod
    def from_round(cls, round_s: float, ssh_s: float = 0.0) -> Timing:
        timeout = max(3.0, math.ceil(2.5 * round_s))
        interval = max(4.0, math.ceil(2 * round_s) + 1.0, timeout)
        return cls(round_s=round_s, interval=interval, timeout=timeout, ssh_s=ssh_s)

    @property
    def removal_bound(self) -> float:
        return self.interval * 1.25 + FALL * self.timeout + self.round_s + 1

    @property
    def rise_bound(self) -> float:
        return on_loaded_host(self.interval * RISE + 2 * self.round_s)


def probe_round_seconds(guest, addresses) -> float:
    """The slowest of three probe rounds on the guest, each the checker's own curl of every
    master at once, timed inside the guest."""
    urls = " ".join(f"-o /dev/null https://{address}:6443/readyz" for address in addresses)
    script = (
        "par=; curl --help all 2>/dev/null | grep -q -- --parallel-immediate && "
        "par='--parallel --parallel-immediate'; worst=0; for i in 1 2 3; do s=$EPOCHREALTIME; "
        f"curl $par -sk --max-time 20 {urls} >/dev/null 2>&1; e=$EPOCHREALTIME; "
        "t=$(( (${e/./} - ${s/./}) / 1000 )); [ $t -gt $worst ] && worst=$t; done; echo $worst"
    )
    proc = qemu.exec_in_guest(guest, ["bash", "-c", script], timeout=120)
    return int(proc.stdout.strip()) / 1000


@pytest.fixture(scope="module")
def q1(lab):
    began = time.monotonic()
    guests = qemu.ensure_guests(1, log=lambda line: print(f"[qemu] {line}"))
    FIGURES["guest_boot_s"] = round(guests[0].boot_seconds or 0, 1)
    FIGURES["guest_ready_incl_image_s"] = round(time.monotonic() - began, 1)
    try:
        yield guests[0]
    finally:
        for master in lab.masters:
            with contextlib.suppress(Exception):
                lab.restore(master.name)
        with contextlib.suppress(Exception):
            run_uninstall(
                build_plan(profile(lab, guests, Timing.from_round(0))),
                ApplyOptions(only=("q1",)),
                Recorder(),
            )
        qemu.remove_guests(log=lambda line: print(f"[qemu] {line}"))
        print("\nIPVS figures: " + json.dumps(FIGURES))


@pytest.fixture(scope="module")
def timing(lab, q1) -> Timing:
    ssh_s = 0.0
    for _ in range(3):
        began = time.monotonic()
        on_q1(q1, "true")
        ssh_s = max(ssh_s, time.monotonic() - began)
    measured = Timing.from_round(
        probe_round_seconds(q1, [m.address for m in lab.masters]), round(ssh_s, 2)
    )
    FIGURES["probe_round_s"] = measured.round_s
    FIGURES["interval_s"] = measured.interval
    FIGURES["timeout_s"] = measured.timeout
    print(f"\nIPVS timing from a measured probe round: {measured}")
    return measured


def profile(lab, guests, timing: Timing):
    data = qemu.ipvs_profile(lab.state, guests)
    data["health_check"] = {
        "interval": timing.interval,
        "timeout": timing.timeout,
        "fall": FALL,
        "rise": RISE,
    }
    loaded = profile_from_dict(data)
    assert loaded.profile is not None, loaded
    return loaded.profile


@pytest.fixture(scope="module")
def ipvs_profile(lab, q1, timing):
    return profile(lab, [q1], timing)


def on_q1(q1, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return qemu.exec_in_guest(q1, ["sh", "-c", script], timeout=timeout)


def real_servers(q1) -> list[str]:
    out = on_q1(q1, f"ipvsadm -Ln -t {VS}").stdout
    return sorted(
        line.split()[1]
        for line in out.splitlines()
        if line.strip().startswith("->") and "RemoteAddress" not in line
    )


def master_rs(lab, name: str) -> str:
    return f"{lab.node(name).address}:6443"


def requests(q1, count: int, interval: float = 0.1, max_time: float = 5) -> list[tuple[str, str]]:
    """(HTTP code, answering master) of ``count`` requests from q1 through the VIP."""
    proc = on_q1(
        q1, _script(URL, count, interval, max_time), timeout=count * (interval + max_time) + 30
    )
    return [
        (parts[0], parts[2])
        for parts in (line.split() for line in proc.stdout.splitlines())
        if len(parts) == 3
    ]


class TableWatch:
    """Reads the real servers of VS from q1 every 0.1 s over one SSH session, timestamped on
    this host, so a change is timed without SSH set-up costs in the measurement."""

    def __init__(self, q1, seconds: float = 240) -> None:
        count = int(seconds / 0.1)
        script = (
            f"i=0; while [ $i -lt {count} ]; do i=$((i+1)); "
            f'echo "T $(ipvsadm -Ln -t {VS} 2>/dev/null | awk \'$1 == "->" && $2 != "RemoteAddress:Port" '
            "{print $2}' | sort | tr '\\n' ' ')\"; sleep 0.1; done"
        )
        self.proc = subprocess.Popen(
            qemu.ssh_argv(q1, ["sh", "-c", script]), stdout=subprocess.PIPE, text=True
        )
        self.samples: list[tuple[float, frozenset[str]]] = []
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.first.wait(30), "the table watch did not start"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("T"):
                self.samples.append((time.monotonic(), frozenset(line[1:].split())))
                self.first.set()

    def wait_for(self, predicate, since: float, timeout: float) -> float:
        """Seconds from ``since`` to the first sample after it that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, servers in list(self.samples):
                if at >= since and predicate(servers):
                    return at - since
            time.sleep(0.05)
        last = self.samples[-1][1] if self.samples else None
        raise AssertionError(f"no matching table within {timeout} s (last: {last})")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def checker_pid(q1) -> str:
    return on_q1(q1, f"systemctl show -p MainPID --value {UNIT}").stdout.strip()


def test_apply_on_the_ipvs_node(lab, q1, ipvs_profile):
    summary = run_apply(
        build_plan(ipvs_profile), ApplyOptions(only=("q1",)), recorder := Recorder()
    )
    assert summary.ok, recorder.text()
    (result,) = summary.nodes
    assert result.state is NodeState.VERIFIED, recorder.text()
    assert UNIT in result.restarted
    assert any(a.startswith("modprobe -a ip_vs ip_vs_rr") for a in result.actions), result.actions
    assert any(a.startswith("sysctl -q -p") for a in result.actions), result.actions
    table = on_q1(q1, "ipvsadm -Ln").stdout
    assert f"TCP  {VS} rr" in table, table
    assert real_servers(q1) == sorted(master_rs(lab, m.name) for m in lab.masters), table
    assert all(" Masq " in line for line in table.splitlines() if line.strip().startswith("-> 10."))
    sysctl = on_q1(q1, "sysctl -n net.ipv4.vs.expire_nodest_conn").stdout.strip()
    assert sysctl == "1"
    assert f"{IPVS_VIP}/32" in on_q1(q1, f"ip -o addr show dev {DUMMY_INTERFACE}").stdout
    answers = requests(q1, 9)
    assert [code for code, _ in answers] == ["200"] * 9, answers
    assert {master for _, master in answers} == {"m1", "m2", "m3"}


@pytest.mark.parametrize("fault", ["kill-apiserver", "cut"])
def test_checker_removes_a_dead_master_and_adds_it_back(lab, q1, ipvs_profile, timing, fault):
    name = "m1" if fault == "kill-apiserver" else "m2"
    rs = master_rs(lab, name)
    watch = TableWatch(q1)
    during: list[list[tuple[str, str]]] = []
    # Requests through the fault, for the figures (each costs the emulated CPU a second or more).
    loop = threading.Thread(target=lambda: during.append(requests(q1, 12, 0.1, 3)), daemon=True)
    try:
        loop.start()
        time.sleep(0.5)
        began = time.monotonic()
        lab.kill_apiserver(name) if fault == "kill-apiserver" else lab.cut(name)
        # Removed at all (a quiet host: within removal_bound; the figure is the bench's).
        deadline = on_loaded_host(timing.removal_bound)
        removed = watch.wait_for(lambda servers: rs not in servers, began, deadline)
        FIGURES[f"{fault}_removed_s"] = round(removed, 2)
        loop.join(200)
        failed = [a for a in during[0] if a[0] != "200"]
        FIGURES[f"{fault}_failed_during"] = f"{len(failed)}/{len(during[0])}"
        # Round-robin over what is left: 9 requests would reach a master still in the table 3 times.
        after = requests(q1, 9)
        FIGURES[f"{fault}_failed_after"] = sum(1 for code, _ in after if code != "200")
        assert [code for code, _ in after] == ["200"] * 9, after
        assert name not in {m for _, m in after}
        began = time.monotonic()
        lab.restore(name)
        back = watch.wait_for(lambda servers: rs in servers, began, timing.rise_bound)
        FIGURES[f"{fault}_added_back_s"] = round(back, 2)
    finally:
        watch.close()
        lab.restore(name)
    journal = on_q1(q1, f"journalctl -u {UNIT} --no-pager -o cat").stdout
    assert f"removed real server {rs}" in journal
    assert f"added real server {rs}" in journal


WATCH_PORTS = {1: 41010, 2: 41020, 3: 41030}  # each stream's own local ports (10 of them)


def stream_masters(q1) -> dict[int, str]:
    """Which real server IPVS pinned each watch stream to (by the stream's local port)."""
    pinned: dict[int, str] = {}
    for line in on_q1(q1, "ipvsadm -Lnc").stdout.splitlines():
        words = line.split()
        if len(words) == 6 and words[2] == "ESTABLISHED" and words[4] == VS:
            port = int(words[3].rsplit(":", 1)[1])
            for stream, first in WATCH_PORTS.items():
                if first <= port < first + 10:
                    pinned[stream] = words[5]
    return pinned


def test_checker_closes_a_watch_stream_pinned_to_a_cut_master(lab, q1, ipvs_profile, timing):
    """A watch stream sends nothing, so IPVS keeps it pinned to a master whose host vanished;
    the checker destroys its socket when it takes the master out, and the client is free to
    reconnect at once instead of waiting for the master to come back. The streams on the live
    masters stay open, and what closed the cut master's is the checker: its journal line
    "removed real server" comes before the stream ends, it counts the streams it closed, and
    curl ends with 56 (its connection aborted), not 28 (its own limit) or 0 (the server's end)."""
    name = "m3"
    rs = master_rs(lab, name)
    watch = URL.replace("/readyz", "/api/v1/namespaces/default/pods?watch=true")
    starts = "; ".join(
        f"setsid sh -c 'curl -s -k -N -m 120 --local-port {first}-{first + 9} {watch} "
        f">/dev/null 2>&1; echo $? $(date +%s.%N) > /tmp/kubeha-watch.{stream}.end.new; "
        f"mv /tmp/kubeha-watch.{stream}.end.new /tmp/kubeha-watch.{stream}.end' "
        f"</dev/null >/dev/null 2>&1 & echo $! >> /tmp/kubeha-watch.pids; sleep 0.3"
        for stream, first in WATCH_PORTS.items()
    )
    # Each stream's shell leads its own process group (setsid): killed with it, by its id.
    on_q1(q1, f"rm -f /tmp/kubeha-watch.*; {starts}")
    ended_script = "for f in /tmp/kubeha-watch.*.end; do [ -e $f ] && echo $f $(cat $f); done; true"

    def ended() -> dict[int, tuple[int, float]]:
        out: dict[int, tuple[int, float]] = {}
        for line in on_q1(q1, ended_script).stdout.splitlines():
            path, rc, at = line.split()
            out[int(path.split(".")[-2])] = (int(rc), float(at.replace(",", ".")))
        return out

    try:
        pinned = stream_masters(q1)
        assert len(pinned) == 3 and not ended(), (pinned, ended())
        on_m3 = {stream for stream, dst in pinned.items() if dst == rs}
        assert on_m3, f"no watch stream went to {rs}: {pinned}"
        cut_at = float(on_q1(q1, "date +%s.%N").stdout)
        began = time.monotonic()
        lab.cut(name)
        # Each look is one SSH command away; the streams' own limit (-m 120) is far later.
        deadline = began + on_loaded_host(timing.removal_bound + 2 * timing.ssh_s)
        while not on_m3 <= set(ends := ended()):
            assert time.monotonic() < deadline, (
                f"the watch stream to the cut master stayed open: {ends}"
            )
            time.sleep(0.2)
        FIGURES["cut_watch_closed_s"] = round(max(ends[s][1] for s in on_m3) - cut_at, 2)
        still = ended()
        assert set(still) == on_m3, f"a stream on a live master ended too: {still}, pinned {pinned}"
    finally:
        lab.restore(name)
        on_q1(q1, "for p in $(cat /tmp/kubeha-watch.pids); do kill -- -$p 2>/dev/null; done; true")
    # The checker took m3 out after the cut and closed the streams' sockets itself: each
    # stream ended after the removal, aborted (curl's 56), and the journal counts them closed.
    lines = on_q1(
        q1, f"journalctl -u {UNIT} --no-pager -o short-unix --since @{int(cut_at)}"
    ).stdout.splitlines()
    journal = "\n".join(ln for ln in lines if ln[:1].isdigit() and float(ln.split()[0]) >= cut_at)
    print(f"\nstreams pinned {pinned}, ended {ends}, cut at {cut_at:.3f}:\n{journal}")
    removed = [ln for ln in journal.splitlines() if f"removed real server {rs}" in ln]
    closed = [ln for ln in journal.splitlines() if f"local connection(s) to {rs}" in ln]
    assert removed, journal
    assert closed and f"closed {len(on_m3)} local connection(s) to {rs}" in closed[0], journal
    removed_at = float(removed[0].split()[0])
    for stream in on_m3:
        rc, at = ends[stream]
        assert rc == 56 and at >= removed_at, (stream, rc, at, removed_at, journal)
    back = TableWatch(q1)
    try:
        back.wait_for(lambda servers: rs in servers, time.monotonic(), timing.rise_bound)
    finally:
        back.close()


def test_checker_restores_a_wiped_virtual_server(q1, lab, ipvs_profile, timing):
    # Wiped (as kube-proxy in IPVS mode would) and timed inside the guest: 0.05 s polls, capped
    # at 1,200 polls (a minute or more under emulation).
    script = (
        f"ipvsadm -D -t {VS}; s=$EPOCHREALTIME; i=0; "
        f"until [ $(ipvsadm -Ln -t {VS} 2>/dev/null | grep -c -- '-> 10\\.') -eq 3 ] || [ $i -ge 1200 ]; "
        "do sleep 0.05; i=$((i+1)); done; e=$EPOCHREALTIME; "
        'echo "$(( (${e/./} - ${s/./}) / 1000 ))"'
    )
    proc = qemu.exec_in_guest(q1, ["bash", "-c", script], timeout=120)
    restored = int(proc.stdout.strip()) / 1000
    FIGURES["wipe_restored_s"] = round(restored, 2)
    # Looked at every quarter interval, unless a probe round is under way (on a quiet host
    # within interval / 4 + a round + 1 s): restored at all, not left empty.
    bound = on_loaded_host(timing.interval / 4 + timing.round_s + 1)
    assert restored <= bound, f"restored after {restored:.2f} s (bound {bound:.1f} s)"
    assert real_servers(q1) == sorted(master_rs(lab, m.name) for m in lab.masters)
    assert "was missing: created it" in on_q1(q1, f"journalctl -u {UNIT} -o cat").stdout


def test_all_masters_down_keeps_them_all(lab, q1, ipvs_profile, timing):
    every = sorted(master_rs(lab, m.name) for m in lab.masters)
    watch = TableWatch(q1)
    try:
        began = time.monotonic()
        for master in lab.masters:
            lab.kill_apiserver(master.name)
        deadline = began + on_loaded_host(timing.removal_bound)
        journal = ""
        while "keeping all of them" not in journal:
            assert time.monotonic() < deadline, f"the checker never kept all masters:\n{journal}"
            time.sleep(0.5)
            journal = on_q1(q1, f"journalctl -u {UNIT} -o cat --since=-120s").stdout
        # From then on, for two more intervals, the table holds every master at every sample.
        settled = time.monotonic()
        while time.monotonic() < settled + 2 * timing.interval:
            time.sleep(0.2)
        after = [servers for at, servers in list(watch.samples) if at >= settled]
        assert after and all(sorted(servers) == every for servers in after), after[-5:]
    finally:
        watch.close()
        for master in lab.masters:
            lab.restore(master.name)
    answers = []
    for _ in range(20):
        time.sleep(0.5)
        answers = requests(q1, 3)
        if all(code == "200" for code, _ in answers):
            break
    assert [code for code, _ in answers] == ["200"] * 3


def test_reapply_unchanged_restarts_nothing(q1, ipvs_profile):
    pid = checker_pid(q1)
    summary = run_apply(
        build_plan(ipvs_profile), ApplyOptions(only=("q1",)), recorder := Recorder()
    )
    assert summary.ok, recorder.text()
    (result,) = summary.nodes
    assert result.state is NodeState.UNCHANGED, recorder.text()
    assert result.restarted == () and result.reloaded == () and result.changed_files == ()
    assert checker_pid(q1) == pid


def test_dry_run_of_a_changed_scheduler_changes_nothing(q1, ipvs_profile):
    changed = dataclasses.replace(
        ipvs_profile,
        tables={
            **ipvs_profile.tables,
            "ipvs": dataclasses.replace(section(ipvs_profile, "ipvs"), scheduler="wrr"),
        },
    )
    summary = run_apply(build_plan(changed), ApplyOptions(only=("q1",), dry_run=True), Recorder())
    (result,) = summary.nodes
    assert result.state is NodeState.PLANNED
    assert f"TCP  {VS} rr" in on_q1(q1, "ipvsadm -Ln").stdout


def test_uninstall_leaves_no_rule_and_no_vip(q1, ipvs_profile):
    summary = run_uninstall(build_plan(ipvs_profile), ApplyOptions(only=("q1",)), Recorder())
    (result,) = summary.nodes
    assert result.state is NodeState.REMOVED, result
    assert on_q1(q1, "ipvsadm -Ln -t " + VS).returncode != 0
    assert "TCP" not in on_q1(q1, "ipvsadm -Ln").stdout
    assert on_q1(q1, f"ip link show {DUMMY_INTERFACE}").returncode != 0
    assert IPVS_VIP not in on_q1(q1, "ip -o addr").stdout
    assert "kubeha" not in on_q1(q1, "cat /etc/hosts").stdout
    assert on_q1(q1, "test -e /usr/local/lib/kubeha/kubeha-ipvs-checker").returncode != 0
    assert on_q1(q1, f"systemctl is-active {UNIT}").stdout.strip() != "active"
