"""The ipvs pieces that need no IPVS kernel: the checker script against a fake ipvsadm, curl and
ip (a table kept in a file), the plan's checker file and clean-up, what makes sysctl and modules
files take effect, the initramfs writer, module ordering and the QEMU command line."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.deadlines import POLL_S
from tests.support.examples import example_profile, section
from tests.support.ipvs_fakes import FAKE_IPVSADM, NO_OP, install
from wizard.engine.loadnow import load_now, modules_in
from wizard.lab import qemu, qemu_kube
from wizard.lab.cpio import CpioWriter
from wizard.lab.qemu_image import GuestImage, module_order
from wizard.paths import TEMPLATES_DIR
from wizard.render import RenderedFile, build_plan
from wizard.strategies.ipvs import CHECKER_PATH, UNIT, checker_script

VS = "10.103.97.2:6443"
SERVERS = ("10.0.0.11:6443", "10.0.0.12:6443", "10.0.0.13:6443")

FAKE_SS = r"""#!/bin/bash
# A fake ss: records each call (-K -t -H -n dst VS '(' src A or src B ... ')'); -K "destroys"
# (prints) the socket of every source named, unless it is listed in $FAKE/gone (its socket
# already closed: nothing to print).
echo "$*" >> "$FAKE/ss-calls"
prev=
for a; do
  [ "$prev" = src ] && ! grep -qxF "$a" "$FAKE/gone" 2>/dev/null && echo "ESTAB 0 0 $a $6"
  prev=$a
done
exit 0
"""
FAKE_CURL = r"""#!/bin/bash
# A fake curl: every https URL argument answers 200 unless its host:port is listed in
# $FAKE/down (no answer: 000) or $FAKE/draining (500); each connect (TCP + TLS) takes the seconds in $FAKE/connect (default 0.001).
# Records each call's --connect-timeout in $FAKE/connect-timeouts.
# A host:port in $FAKE/unauthorized answers 401 to a curl without --cert (anonymous auth off).
connect=$(cat "$FAKE/connect" 2>/dev/null || echo 0.001000)
prev= cert=
for a; do
  [ "$prev" = --connect-timeout ] && echo "$a" >> "$FAKE/connect-timeouts"
  [ "$a" = --cert ] && cert=1
  prev=$a
  case "$a" in
  https://*)
    hostport=${a#https://}; hostport=${hostport%%/*}
    if grep -qxF "$hostport" "$FAKE/down" 2>/dev/null; then echo "$a 000 0.000000"
    elif [ -z "$cert" ] && grep -qxF "$hostport" "$FAKE/unauthorized" 2>/dev/null; then echo "$a 401 $connect"
    elif grep -qxF "$hostport" "$FAKE/draining" 2>/dev/null; then echo "$a 500 $connect"
    else echo "$a 200 $connect"; fi ;;
  esac
done
"""


@pytest.fixture
def checker(tmp_path: Path, request: pytest.FixtureRequest):
    fake = tmp_path / "fake"
    bin_dir = fake / "bin"
    install(bin_dir, {"ipvsadm": FAKE_IPVSADM, "curl": FAKE_CURL, "ip": NO_OP, "ss": FAKE_SS})
    script = tmp_path / "kubeha-ipvs-checker"
    script.write_text(checker_script())
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE": str(fake),
        "VIP": "10.103.97.2",
        "PORT": "6443",
        "SCHEDULER": "rr",
        "REAL_SERVERS": " ".join(SERVERS),
        "CHECK_PATH": "/readyz",
        "INTERVAL": "0.2",
        "TIMEOUT": "0.2",
        "FALL": "2",
        "RISE": "2",
        "TMPDIR": str(tmp_path),
        "ALL_FAILING_FILE": str(fake / "all-masters-failing"),
        **getattr(request, "param", {}),
    }
    log_path = tmp_path / "checker.log"
    log = log_path.open("w")
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=log, stderr=subprocess.STDOUT)

    class Checker:
        def table(self) -> list[str]:
            """The scheduler, then the real servers."""
            try:
                lines = (fake / "table").read_text().splitlines()
            except OSError:
                return []
            return [line.split()[0] for line in lines if line.strip()]

        def weights(self) -> dict[str, str]:
            lines = (fake / "table").read_text().splitlines()[1:]
            return dict(line.split() for line in lines if line.strip())

        def down(self, *servers: str) -> None:
            (fake / "down").write_text("".join(f"{s}\n" for s in servers))

        def draining(self, *servers: str) -> None:
            (fake / "draining").write_text("".join(f"{s}\n" for s in servers))

        def wait(self, predicate, timeout: float = POLL_S) -> None:
            deadline = time.monotonic() + timeout
            while not predicate(self.table()):
                assert time.monotonic() < deadline, self.table()
                time.sleep(0.05)

        def connections(self, *lines: str) -> None:
            (fake / "conns").write_text("".join(f"{line}\n" for line in lines))

        def ss_calls(self) -> list[str]:
            try:
                return (fake / "ss-calls").read_text().splitlines()
            except OSError:
                return []

        def slow_connects(self, seconds: str) -> None:
            (fake / "connect").write_text(seconds)

        def connect_timeouts(self) -> list[float]:
            try:
                return [float(t) for t in (fake / "connect-timeouts").read_text().split()]
            except OSError:
                return []

        def wipe(self) -> None:
            (fake / "table").unlink()

        def gone(self, *sources: str) -> None:
            (fake / "gone").write_text("".join(f"{s}\n" for s in sources))

        def unauthorized(self, *servers: str) -> None:
            (fake / "unauthorized").write_text("".join(f"{s}\n" for s in servers))

        def all_failing(self) -> bool:
            return (fake / "all-masters-failing").exists()

        def log(self) -> list[str]:
            return log_path.read_text().splitlines()

    try:
        yield Checker()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        print(log_path.read_text())


def test_checker_builds_the_table_removes_and_adds_back(checker):
    checker.wait(lambda t: t == ["rr", *SERVERS])
    checker.down(SERVERS[0])
    checker.wait(lambda t: SERVERS[0] not in t and len(t) == 3)
    checker.down()
    checker.wait(lambda t: SERVERS[0] in t)


def test_checker_closes_local_connections_to_a_master_it_takes_out(checker):
    checker.wait(lambda t: t == ["rr", *SERVERS])
    checker.connections(
        f"TCP 14:59  ESTABLISHED 10.0.0.21:40000 {VS} {SERVERS[0]}",
        f"TCP 14:59  ESTABLISHED 10.0.0.21:40001 {VS} {SERVERS[1]}",
        f"TCP 00:59  SYN_RECV    10.0.0.21:40002 10.9.9.9:6443 {SERVERS[0]}",
    )
    checker.down(SERVERS[0])
    checker.wait(lambda t: SERVERS[0] not in t)
    deadline = time.monotonic() + POLL_S
    while not checker.ss_calls() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert checker.ss_calls() == [f"-K -t -H -n dst {VS} ( src 10.0.0.21:40000 )"]


def test_checker_says_which_connections_it_closed_and_which_were_gone_already(checker):
    """Its journal tells the checker's own close from a socket something else had closed."""
    checker.wait(lambda t: t == ["rr", *SERVERS])
    checker.connections(
        f"TCP 14:59  ESTABLISHED 10.0.0.21:40000 {VS} {SERVERS[0]}",
        f"TCP 14:59  ESTABLISHED 10.0.0.21:40001 {VS} {SERVERS[0]}",
        f"TCP 01:59  TIME_WAIT   10.0.0.21:40002 {VS} {SERVERS[0]}",
    )
    checker.gone("10.0.0.21:40001", "10.0.0.21:40002")
    checker.down(SERVERS[0])
    checker.wait(lambda t: SERVERS[0] not in t)
    deadline = time.monotonic() + POLL_S
    while not checker.ss_calls() and time.monotonic() < deadline:
        time.sleep(0.05)
    closed = f"closed 1 local connection(s) to {SERVERS[0]}"
    gone = f"1 local connection(s) to {SERVERS[0]} had no socket left to close"
    deadline = time.monotonic() + POLL_S
    while not {closed, gone} <= set(checker.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = "\n".join(checker.log())
    assert closed in log and gone in log, log
    # One ss for every connection that may still have a socket (a process per connection cost
    # the QEMU guest seconds before the last watch closed); the TIME_WAIT entry has none.
    both = "src 10.0.0.21:40000 or src 10.0.0.21:40001"
    assert checker.ss_calls() == [f"-K -t -H -n dst {VS} ( {both} )"]


def test_checker_quiesces_a_draining_master_and_takes_it_out_when_it_stops_answering(checker):
    """A draining apiserver says 500 on /readyz while it still serves: weight 0 (no new
    connections), its open connections left alone; out, and those cut, once it is gone."""
    checker.wait(lambda t: t == ["rr", *SERVERS])
    checker.connections(f"TCP 14:59  ESTABLISHED 10.0.0.21:40000 {VS} {SERVERS[0]}")
    checker.draining(SERVERS[0])
    deadline = time.monotonic() + POLL_S
    while checker.weights().get(SERVERS[0]) != "0":
        assert time.monotonic() < deadline, checker.weights()
        time.sleep(0.05)
    assert checker.table() == ["rr", *SERVERS]
    assert {checker.weights()[s] for s in SERVERS[1:]} == {"1"}
    time.sleep(0.6)  # three intervals at weight 0: nothing cut while it answers
    assert checker.ss_calls() == [] and checker.weights()[SERVERS[0]] == "0"
    checker.draining()
    checker.down(SERVERS[0])  # the drain closed its listener
    checker.wait(lambda t: SERVERS[0] not in t)
    deadline = time.monotonic() + POLL_S
    while not checker.ss_calls() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checker.ss_calls() == [f"-K -t -H -n dst {VS} ( src 10.0.0.21:40000 )"]
    checker.down()
    checker.wait(lambda t: SERVERS[0] in t)
    assert checker.weights()[SERVERS[0]] == "1"


@pytest.mark.parametrize("checker", [{"DRAIN_GRACE": "0.6"}], indirect=True)
def test_checker_takes_out_a_master_that_answers_but_stays_unready(checker):
    checker.wait(lambda t: t == ["rr", *SERVERS])
    checker.draining(SERVERS[1])
    checker.wait(lambda t: SERVERS[1] not in t)
    checker.draining()
    checker.wait(lambda t: SERVERS[1] in t)


def test_checker_keeps_every_server_when_all_fail(checker):
    checker.wait(lambda t: len(t) == 4)
    checker.down(*SERVERS)
    time.sleep(1.5)  # several intervals past FALL
    assert sorted(checker.table()[1:]) == sorted(SERVERS)


def test_every_master_answering_401_keeps_all_and_says_so_every_interval(checker):
    """Anonymous auth off on every apiserver: every probe fails, every master stays in the
    table, a warning every interval, the state file for verify; gone once one answers."""
    checker.wait(lambda t: len(t) == 4)
    checker.unauthorized(*SERVERS)
    deadline = time.monotonic() + 10
    while not checker.all_failing():
        assert time.monotonic() < deadline, checker.log()
        time.sleep(0.05)
    time.sleep(1.0)  # five intervals
    assert sorted(checker.table()[1:]) == sorted(SERVERS)
    warnings = [line for line in checker.log() if line.startswith("WARNING: every real server")]
    assert len(warnings) >= 3, checker.log()
    checker.unauthorized(*SERVERS[1:])  # one reads again: the others are quiesced (weight 0)
    deadline = time.monotonic() + 10
    while checker.weights() != {SERVERS[0]: "1", SERVERS[1]: "0", SERVERS[2]: "0"}:
        assert time.monotonic() < deadline, checker.weights()
        time.sleep(0.05)
    assert not checker.all_failing()


def test_every_master_failing_still_leaves_out_one_that_gives_no_answer(checker):
    """A master's host gone while etcd elects (the others answer 500): the silent one stays
    out, the answering ones are kept (weight 1); the node says every master fails."""
    checker.wait(lambda t: len(t) == 4)
    checker.down(SERVERS[0])
    checker.draining(*SERVERS[1:])
    checker.wait(lambda t: t == ["rr", *SERVERS[1:]])
    deadline = time.monotonic() + 10
    while checker.weights() != {SERVERS[1]: "1", SERVERS[2]: "1"} or not checker.all_failing():
        assert time.monotonic() < deadline, (checker.weights(), checker.log())
        time.sleep(0.05)


@pytest.mark.parametrize(
    "checker",
    [{"OK_CODES": "200 401 403"}, {"CHECK_AUTH": "--cert /var/lib/kubelet/pki/x.pem"}],
    indirect=True,
    ids=["alive-on-401", "client-cert"],
)
def test_an_auth_mode_reads_a_hardened_apiserver(checker):
    checker.wait(lambda t: len(t) == 4)
    checker.unauthorized(*SERVERS)
    checker.down(SERVERS[2])  # still seen: the mode tells up from down
    checker.wait(lambda t: t == ["rr", *SERVERS[:2]])
    time.sleep(0.6)
    assert checker.weights() == {SERVERS[0]: "1", SERVERS[1]: "1"}  # up, not quiesced
    assert not checker.all_failing()
    assert not [line for line in checker.log() if "WARNING" in line]


def test_checker_recreates_a_wiped_virtual_server(checker):
    checker.wait(lambda t: len(t) == 4)
    checker.wipe()
    # One interval on a quiet machine (the lab test measures it); slack for a loaded CI host.
    checker.wait(lambda t: len(t) == 4, timeout=3)


SLOW_HOST = {"INTERVAL": "0.2", "TIMEOUT": "3"}


@pytest.mark.parametrize("checker", [SLOW_HOST], indirect=True)
def test_checker_connect_timeout_follows_the_slowest_connect(checker):
    """curl's connect phase includes TLS: a fixed 0.5 s took live masters out on a slow node.
    The timeout starts at TIMEOUT, falls to the 0.25 s floor on a fast node, and rises to four
    times a slow connect, never above TIMEOUT; no live master leaves the table meanwhile."""

    def wait_for(predicate, timeout: float = POLL_S) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(checker.connect_timeouts()):
            assert time.monotonic() < deadline, checker.connect_timeouts()[-5:]
            time.sleep(0.05)

    wait_for(lambda seen: len(seen) >= 1)
    assert checker.connect_timeouts()[0] == 3.0
    wait_for(lambda seen: seen and seen[-1] == 0.25)
    checker.slow_connects("0.400000")
    wait_for(lambda seen: seen and seen[-1] == 1.6)
    checker.slow_connects("2.000000")
    wait_for(lambda seen: seen and seen[-1] == 3.0)
    assert checker.table() == ["rr", *SERVERS]


def test_checker_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", "-c", checker_script()]).returncode == 0


def test_plan_ships_the_checker_and_cleans_up_vip_and_virtual_server():
    plan = build_plan(example_profile("ipvs"))
    node = plan.nodes[0]
    (checker,) = [f for f in node.files if f.path == CHECKER_PATH]
    assert checker.mode == 0o755 and checker.service == UNIT and checker.restart
    assert checker.check == ("bash", "-n", "{file}")
    vip = section(plan.profile, "ipvs").vip
    assert ("ipvsadm", "-D", "-t", f"{vip}:{section(plan.profile, 'ipvs').port}") in node.cleanup
    assert ("ip", "link", "delete", "kubeha-ipvs0") in node.cleanup


def test_load_now_for_files_without_a_service():
    modules = RenderedFile("/etc/modules-load.d/x.conf", "# c\nip_vs\n\nip_vs_rr ; x\n", "t")
    assert modules_in(modules.content) == ["ip_vs", "ip_vs_rr"]
    assert load_now(modules) == [["modprobe", "-a", "ip_vs", "ip_vs_rr"]]
    sysctl = RenderedFile("/etc/sysctl.d/90-x.conf", "a = 1\n", "t")
    assert load_now(sysctl) == [["sysctl", "-q", "-p", "/etc/sysctl.d/90-x.conf"]]
    assert load_now(RenderedFile("/etc/sysctl.d/y.conf", "", "t", service="u.service")) == []
    assert load_now(RenderedFile("/etc/hosts", "", "t", kind="line")) == []


def test_cpio_newc_archive_lists_with_busybox(tmp_path: Path):
    busybox = "/bin/busybox" if Path("/bin/busybox").exists() else None
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("q1\n")
    (tree / "link").symlink_to("etc/hostname")
    archive = tmp_path / "a.cpio"
    with CpioWriter(archive) as cpio:
        cpio.file("init", b"#!/bin/sh\n", 0o755)
        cpio.device("dev/null", 1, 3, 0o666)
        cpio.tree(tree, "guest")
    data = archive.read_bytes()
    assert data.startswith(b"070701") and len(data) % 4 == 0 and b"TRAILER!!!" in data
    if busybox is None:
        pytest.skip("busybox is not installed")
    listing = subprocess.run(
        [busybox, "cpio", "-t"], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert set(listing.split()) >= {"init", "dev/null", "guest/etc/hostname", "guest/link"}


def test_module_order_puts_dependencies_first(tmp_path: Path):
    (tmp_path / "modules.dep").write_text(
        "kernel/a/virtio_net.ko: kernel/v/virtio.ko kernel/v/virtio_ring.ko kernel/n/failover.ko\n"
        "kernel/v/virtio_ring.ko:\n"
        "kernel/v/virtio.ko: kernel/v/virtio_ring.ko\n"
        "kernel/n/failover.ko:\n"
        "kernel/b/virtio_blk.ko: kernel/v/virtio.ko kernel/v/virtio_ring.ko\n"
    )
    order = module_order(tmp_path, ("virtio_net", "virtio_blk"))
    assert order.index("kernel/v/virtio_ring.ko") < order.index("kernel/v/virtio.ko")
    assert order.index("kernel/v/virtio.ko") < order.index("kernel/a/virtio_net.ko")
    assert order[-1] == "kernel/b/virtio_blk.ko" and len(order) == len(set(order)) == 5


def test_qemu_guest_has_only_its_tap_and_a_throwaway_disk(tmp_path: Path):
    guest = qemu.GuestState("q1", "10.77.0.41", "127.0.0.1", 2241, "tap-q1")
    argv = qemu.qemu_argv(guest, GuestImage(tmp_path, "6.1"), tmp_path / "i", tmp_path)
    joined = " ".join(argv)
    assert argv[:4] == ["ip", "netns", "exec", "kubeha-lab"]
    assert "-nodefaults" in argv and "tcg" in argv
    assert [a for a in argv if a.startswith(("user", "-nic", "-net "))] == []
    assert "hostfwd" not in joined and argv.count("-netdev") == 1
    assert "tap,id=lab,ifname=tap-q1,script=no,downscript=no" in argv
    assert "snapshot=on" in joined
    ssh = qemu.ssh_argv(guest, ["echo", "a b"])
    assert "StrictHostKeyChecking=yes" in ssh and ssh[-1] == "echo 'a b'"


def test_a_real_labs_guest_gets_the_kube_disk_read_only_and_more_memory(tmp_path: Path):
    guest = qemu.GuestState("q1", "10.77.0.41", "127.0.0.1", 2241, "tap-q1")
    plain = qemu.qemu_argv(guest, GuestImage(tmp_path, "6.1"), tmp_path / "i", tmp_path)
    guest.kube_drive = "/var/cache/kubeha/qemu/kube-abc.ext4"
    real = qemu.qemu_argv(guest, GuestImage(tmp_path, "6.1"), tmp_path / "i", tmp_path)
    assert plain.count("-drive") == 1 and real.count("-drive") == 2
    assert f"file={guest.kube_drive},format=raw,if=virtio,readonly=on" in real
    assert int(real[real.index("-m") + 1]) == qemu_kube.MEMORY_MB
    assert int(plain[plain.index("-m") + 1]) < qemu_kube.MEMORY_MB


def test_the_guest_mounts_the_kube_disk_before_kube_proxy_and_links_iptables_to_nft():
    unit = qemu_kube.MOUNT_SERVICE
    assert "Before=kube-proxy.service" in unit and "Type=oneshot" in unit
    assert f"mount -t ext4 -o ro,noatime /dev/vdb {qemu_kube.cp.BIN_IN_NODE}" in unit
    assert qemu_kube.IPTABLES_LINKS["iptables-restore"] == "iptables-nft-restore"
    assert set(qemu_kube.IPTABLES_LINKS) == {
        "iptables", "iptables-save", "iptables-restore",
        "ip6tables", "ip6tables-save", "ip6tables-restore",
    }  # fmt: skip


def test_a_dual_stack_guest_gets_its_ipv6_address_and_the_ipv6_ipvs_profile(tmp_path: Path):
    """In a dual-stack lab the guest's files carry a unit giving eth0 its fd77:: address (the
    shared image's init is left as it is), and lab-ipvs-ipv6 lists the guest by that address."""
    from wizard.lab import lab
    from wizard.lab.state import LabState, NodeState

    qemu._write_ipv6_unit(tmp_path, "fd77::41")
    unit = (tmp_path / "etc/systemd/system" / qemu.IPV6_UNIT).read_text()
    assert "ExecStart=ip -6 addr replace fd77::41/64 dev eth0 nodad" in unit
    link = tmp_path / "etc/systemd/system/multi-user.target.wants" / qemu.IPV6_UNIT
    assert link.is_symlink()
    state = LabState(3, 0, 0, rootfs="/r", bridge_netns="kubeha-lab", ipv6=True)
    for spec in lab.plan(3, 0, 0, ipv6=True):
        state.nodes.append(
            NodeState(
                spec.name,
                spec.role,
                spec.address,
                "127.0.0.1",
                2211,
                "ns",
                "/m",
                address6=spec.address6,
            )
        )
    guest = qemu.GuestState("q1", "10.77.0.41", "127.0.0.1", 2241, "tap-q1", address6="fd77::41")
    profile = qemu.ipvs_profile(state, [guest], ipv6=True)
    assert profile["ipvs"]["vip"] == "fd77:97::2"
    assert [w["address"] for w in profile["workers"]] == ["fd77::41"]
    assert [m["address"] for m in profile["masters"]] == ["fd77::11", "fd77::12", "fd77::13"]
    assert qemu.ipvs_profile(state, [guest])["workers"][0]["address"] == "10.77.0.41"


@pytest.mark.skipif(os.geteuid() != 0, reason="a private network namespace (root)")
def test_ipv6_local_connections_to_the_vip_leave_from_the_node_address(tmp_path: Path):
    """IPv6 keeps the VIP's own local route (metric 0, source: the VIP, which no master can
    answer) beside any other; the checker's ensure_vip replaces it with one whose source is
    the node's address, again when the address comes back, and never deletes its own. Run on
    the checker's own functions, in a private namespace (a veth stands in for the dummy
    interface, the VIP added without DAD as a dummy's is)."""
    script = (TEMPLATES_DIR / "ipvs/kubeha-ipvs-checker.sh").read_text()
    functions = "\n".join(
        re.search(rf"^{name}\(\) {{\n.*?^}}\n", script, re.S | re.M).group(0)
        for name in ("ensure_vip", "ensure_source6")
    )
    test = f"""set -u
VIP=fd77:97::2 FAMILY=-6 PREFIX=128 DUMMY_INTERFACE=kubeha-ipvs0 SOURCE_ADDRESS=fd77::41
log() {{ echo "LOG: $*"; }}
{functions}
ip link set lo up
ip link add eth0 type veth peer name p0; ip link set eth0 up; ip link set p0 up
ip -6 addr add fd77::41/64 dev eth0 nodad
ip link add kubeha-ipvs0 type veth peer name p1; ip link set p1 up; ip link set kubeha-ipvs0 up
ip -6 addr add $VIP/128 dev kubeha-ipvs0 nodad
echo "BEFORE $(ip -6 route get $VIP | head -1)"
ensure_vip; echo "ROUND1 $(ip -6 route get $VIP | head -1)"
ensure_vip; echo "ROUND2 $(ip -6 route get $VIP | head -1)"
ip -6 addr del $VIP/128 dev kubeha-ipvs0; ip -6 addr add $VIP/128 dev kubeha-ipvs0 nodad
# the kernel puts its own local route back when the address returns, not always at once on a
# loaded host (the checker's next round would take it): wait for it, at most 10 s
for _ in $(seq 100); do
  ip -6 route show table local $VIP | grep -q "metric 0" && break; sleep 0.1
done
ensure_vip; echo "ROUND3 $(ip -6 route get $VIP | head -1)"
"""
    path = tmp_path / "t.sh"
    path.write_text(test)
    out = subprocess.run(
        ["unshare", "--net", "bash", str(path)], capture_output=True, text=True, timeout=60
    ).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("B", "R")))
    assert "src fd77:97::2 " in lines["BEFORE"], out  # the kernel's own choice
    for round_ in ("ROUND1", "ROUND2", "ROUND3"):
        assert "src fd77::41 " in lines[round_], out
    assert out.count("now leave from fd77::41") == 2, out  # rounds 1 and 3; round 2 is quiet
