"""The proof with real clients: ``python -m bench.real_clients`` (root, the lab; it takes the
lab test lock). The lab's real control plane (Kubernetes 1.20), each strategy applied with
``[clients] repoint = true``, then per fault (kill, cut, drain of a master that holds no VIP;
for haproxy-keepalived also the cut of the VIP holder): on every node a ``kubectl get --watch``
and a kept-alive client through the node's load balancer, kube-proxy's healthz on the workers,
the leader leases, while a writer patches a Service every 0.5 s (bench/real_agent.py). Prints
the table (bench/real_figures.py) that docs/BENCHMARKS.md shows. The lab is left with the
stand-in control plane and no strategy installed.

``--control-plane kubeadm``: the same drills (kill and cut; a drain is kubelet's on that lab) on
the kubeadm lab (``lab up --control-plane kubeadm``: static pods, each apiserver on its own
stacked etcd member, kube-proxy a DaemonSet), each strategy applied with the lab profile's
``[clients] repoint`` (kubeadm's kubeconfigs and its objects, kube-proxy's ConfigMap included;
controller-manager and scheduler stay on their own apiserver, as kubeadm made them). Each node's
clients use kubeadm's own kubeconfig (a master's admin.conf, a worker's kubelet.conf); the
writer, which needs more than a node's rights, runs on a master that is not faulted. A kill
there is a crash: kubelet starts the apiserver again by itself. Before each cut the bench
logs which master leads etcd (its metrics' ``etcd_server_is_leader``). With ``--static-pod``
each balancer runs as a static pod (the lab's ``lab-<strategy>-static-pod`` profiles), its rows
named "<strategy> (static pod)".

ipvs runs on a QEMU guest (the only lab node with IPVS; it has kubectl and kube-proxy in a real
lab, see wizard.lab.qemu_kube): its clients are the ones measured, its agent runs over SSH and
its clock is read against the host's. The masters' leaders cannot sit behind IPVS in this lab
(the nspawn masters share a kernel without it), so the ipvs rows measure no lease.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.failover import IPVS_HEALTH, vip_holders
from bench.real_figures import (
    DrillRow,
    NodeRecords,
    clock_offset,
    drill_row,
    markdown,
    on_host_clock,
)
from bench.seeds import install_seed
from wizard.engine.apply import run_apply, run_uninstall
from wizard.engine.model import ApplyOptions
from wizard.engine.verify import run_verify
from wizard.lab import Lab, node, qemu, up
from wizard.lab.control_plane import CLIENT_KUBECONFIGS as KUBECONFIGS
from wizard.lab.errors import LabError
from wizard.lab.profiles import STATIC_POD_BALANCERS, build_profile
from wizard.lab.qemu import GuestState
from wizard.profile import Clients, Profile
from wizard.profile_io import profile_from_dict
from wizard.render import build_plan
from wizard.strategies import registry

NSPAWN_STRATEGIES = ("local-nginx", "local-haproxy", "haproxy-keepalived")
STRATEGIES = (*NSPAWN_STRATEGIES, "ipvs")  # ipvs: on a QEMU guest
KINDS = ("kill", "cut", "drain")
KUBEADM_KINDS = ("kill", "cut")
KUBEADM = "kubeadm"
ADMIN_CONF, KUBELET_CONF = "/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf"
NAMESPACE, SERVICE = "kubeha-bench", "tick"
AGENT = (Path(__file__).with_name("real_agent.py")).read_text()
RECORDS: Path | None = None  # --records: every drill's raw records and masters' journal here
STATIC_POD = False  # --static-pod: the kubeadm lab's balancers as static pods
SEEDS = {"local-nginx": "guide 000 nginx", "haproxy-keepalived": "guide 004 haproxy"}
MIN_HOLD_S = 12.0  # a drain closes the listener 6 s in: every fault is held past that
BASELINE_S = 8.0  # clients watched without a fault first: the "(before)" figures
MAX_HOLD_S = 45.0  # a leader lease lost with its node takes 15 s (lease) + 2 s (retry)


def _quiet(_event) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class Deployment:
    """A strategy as the bench applies it: the profile, the apply's options (ipvs: only the
    QEMU guests) and those guests (none for the nspawn strategies)."""

    profile: Profile
    options: ApplyOptions
    guests: tuple[GuestState, ...] = ()


def deployment(lab: Lab, strategy: str, guests: tuple[GuestState, ...] = ()) -> Deployment:
    if strategy == "ipvs":
        data = qemu.ipvs_profile(lab.state, list(guests))
        data["health_check"] = {**data.get("health_check", {}), **IPVS_HEALTH}
    else:
        static_pod = STATIC_POD and strategy in STATIC_POD_BALANCERS
        data = build_profile(lab.state, strategy, static_pod=static_pod)
    profile = profile_from_dict(data).profile
    assert profile is not None
    # The kubeadm lab's profile repoints kubeadm's kubeconfigs and objects as it is.
    kubeadm = lab.state.control_plane == KUBEADM
    clients = profile.clients if kubeadm else Clients(repoint=True, kubeconfigs=KUBECONFIGS)
    only = tuple(g.name for g in guests)
    return Deployment(
        dataclasses.replace(profile, clients=clients),
        ApplyOptions(only=only, verify_timeout=60),
        guests,
    )


def uninstall_all(lab: Lab) -> None:
    """No strategy left, every kubeconfig pointed back (uninstall with repoint does that)."""
    for strategy in NSPAWN_STRATEGIES:
        run_uninstall(build_plan(deployment(lab, strategy).profile), ApplyOptions(), _quiet)
    guests = tuple(g for g in qemu.read_guests() if qemu.guest_alive(g))
    if guests:
        dep = deployment(lab, "ipvs", guests)
        run_uninstall(build_plan(dep.profile), dep.options, _quiet)


def wait(check, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(interval)
    raise RuntimeError(f"{what} not within {timeout} s: {last}")


def kubectl(lab: Lab, name: str, *args: str):
    return lab.exec_in_node(name, ["kubectl", "--request-timeout=10s", *args], timeout=30)


def settled(lab: Lab, dep: Deployment) -> bool | str:
    """Every node answers through its load balancer (and one node holds the VIP)."""
    profile = dep.profile
    report = run_verify(profile, dep.options)
    if not report.ok:
        return f"verify: {[(c.node, c.status) for c in report.nodes if not c.ok]}"
    if profile.strategy == "haproxy-keepalived" and len(vip_holders(profile)) != 1:
        return "the VIP is not on exactly one node"
    for m in lab.masters:
        # kubectl with the node's credentials: a hardened lab refuses an anonymous /readyz.
        argv = ["kubectl", "--request-timeout=3s", f"--server=https://{m.address}:6443"]
        answer = lab.exec_in_node(m.name, [*argv, "get", "--raw", "/readyz"]).stdout.strip()
        if answer != "ok":
            return f"{m.name}'s /readyz: {answer or 'no answer'}"
    return True


def deploy(lab: Lab, strategy: str, log) -> Deployment:
    uninstall_all(lab)
    guests: tuple[GuestState, ...] = ()
    if strategy == "ipvs":
        guests = tuple(qemu.ensure_guests(1, log=lambda line: log(f"[qemu] {line}")))
    dep = deployment(lab, strategy, guests)
    profile = dep.profile
    for _attempt in range(2):  # a loaded machine can miss a verify deadline once
        summary = run_apply(build_plan(profile), dep.options, _quiet)
        if summary.ok:
            log(f"real clients: {strategy} applied, clients use {build_plan(profile).server_url}")
            wait(lambda: settled(lab, dep), 90, f"{strategy} settled")
            return dep
    reasons = "; ".join(f"{n.node}: {n.reason}" for n in summary.nodes if not n.ok)
    raise RuntimeError(f"applying {strategy} failed ({reasons})")


def prepare(lab: Lab) -> None:
    kubectl(lab, "m2", "create", "namespace", NAMESPACE)
    kubectl(lab, "m2", "-n", NAMESPACE, "delete", "service", SERVICE, "--ignore-not-found")
    argv = ["-n", NAMESPACE, "create", "service", "clusterip", SERVICE, "--tcp=10000:80"]
    made = kubectl(lab, "m2", *argv)
    if made.returncode != 0:
        raise RuntimeError(f"the bench's Service: {made.stderr}")


def reset_service(lab: Lab) -> None:
    """The Service's port back to 9999 (write n = -1) before a drill, whose writes count from
    n = 0: no client can show an earlier drill's port as one of this drill's writes."""
    port = {"name": "tick", "port": 9999, "targetPort": 80, "protocol": "TCP"}
    patch = json.dumps({"spec": {"ports": [port]}})
    argv = ["--server=https://127.0.0.1:6443", "-n", NAMESPACE, "patch", "service", SERVICE]
    done = kubectl(lab, "m2", *argv, "--type=merge", "-p", patch)
    if done.returncode != 0:
        raise RuntimeError(f"resetting the bench's Service: {done.stderr}")


class Agent:
    """bench/real_agent.py running inside one node, its JSON lines collected as they come.

    In an nspawn node over nsenter (the host's clock); in a QEMU guest over SSH, where the
    guest's clock (set from a whole-second RTC at boot) is read against the host's first: the
    best of a few pings over the agent's stdin, and every record's times moved onto the host's
    clock by that offset (its error is half that ping's round trip, ``clock_error``)."""

    def __init__(self, lab: Lab, name: str, config: dict, guest: GuestState | None) -> None:
        self.records = NodeRecords(name)
        self.writer = bool(config.get("writer"))
        self.started = False
        self.offset: float | None = None if guest else 0.0
        self.clock_error = 0.0
        self._pongs: list[tuple[float, float, float]] = []  # (sent, answered, received)
        self._early: list[dict] = []  # records that came before the offset was known
        self._lock = threading.Lock()
        argv = ["python3", "-c", AGENT, json.dumps(config)]
        if guest is not None:
            argv = qemu.ssh_argv(guest, argv)
        else:
            n = lab.node(name)
            assert n.init_pid is not None
            argv = node.exec_argv(n.init_pid, argv)
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(
            argv, stdin=pipe, stdout=pipe, stderr=subprocess.DEVNULL, text=True
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if guest is not None:
            self._read_clock()

    def _read_clock(self, pings: int = 8, timeout: float = 30.0) -> None:
        assert self.proc.stdin is not None
        deadline = time.monotonic() + timeout
        for _ in range(pings):
            sent = len(self._pongs)
            self.proc.stdin.write(f"ping {time.time()!r}\n")
            self.proc.stdin.flush()
            while len(self._pongs) == sent and time.monotonic() < deadline:
                time.sleep(0.01)
        if not self._pongs:
            raise RuntimeError(f"{self.records.node}'s agent answered no clock ping")
        offset, error = clock_offset(self._pongs)
        with self._lock:
            self.offset, self.clock_error = offset, error
            early, self._early = self._early, []
        for record in early:
            self._add(record)

    def _add(self, record: dict) -> None:
        assert self.offset is not None
        on_host_clock(record, self.offset)
        self.started = self.started or record.get("k") == "start"
        self.records.add(record)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("k") == "pong":
                self._pongs.append((record["h"], record["t"], time.time()))
                continue
            with self._lock:
                if self.offset is None:
                    self._early.append(record)
                    continue
            self._add(record)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()  # the agent stops its loops and kills its kubectl
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self._kill_tree()
        self.reader.join(10)

    def _kill_tree(self) -> None:
        """nsenter forks into the node's PID namespace: its children, then itself, by PID."""
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            subprocess.run(["kill", "-KILL", child], check=False)
        self.proc.kill()
        self.proc.wait(10)


def start_agents(lab: Lab, dep: Deployment, victim: str, duration: float) -> list[Agent]:
    """An agent on every node the strategy serves (ipvs: the QEMU guests, workers there);
    the writer on a worker that is not the victim; the leases read where the masters' leaders
    are behind the strategy (not ipvs: see the module's docstring)."""
    direct = [f"https://{m.address}:6443" for m in lab.masters if m.name != victim]
    base = {
        "kubeconfig": "/root/.kube/config",
        "namespace": NAMESPACE,
        "service": SERVICE,
        "duration": duration,
        "direct": direct,
        "ka_interval": 0.2,
        "ka_timeout": 5,
        "poll_interval": 0.25,
        "write_interval": 0.5,
        "max_writes": int(duration / 0.5) + 1,
    }
    nodes = [(g.name, "worker", g) for g in dep.guests] or [
        (n.name, n.role, None) for n in lab.nodes
    ]
    kubeadm = lab.state.control_plane == KUBEADM
    # kubeadm's nodes: a worker has only kubelet's rights (it may watch, not patch, a Service).
    writer_role = "master" if kubeadm else "worker"
    writer = next(name for name, role, _g in nodes if role == writer_role and name != victim)
    agents = []
    for name, role, guest in nodes:
        config = dict(base, healthz=role == "worker", writer=name == writer)
        if kubeadm:
            config["kubeconfig"] = ADMIN_CONF if role == "master" else KUBELET_CONF
        if guest is not None:  # an emulated CPU: iptables-save every 0.25 s would starve it
            config["poll_interval"] = 0.5
        config["leases"] = name == writer and not dep.guests
        agents.append(Agent(lab, name, config, guest))
    return agents


def etcd_leader(lab: Lab) -> str:
    """The kubeadm lab's master whose etcd member leads (its metrics, on 127.0.0.1:2381)."""
    script = "curl -s -m 3 http://127.0.0.1:2381/metrics | grep '^etcd_server_is_leader '"
    leaders = [
        m.name
        for m in lab.masters
        if lab.exec_in_node(m.name, ["sh", "-c", script]).stdout.split()[-1:] == ["1"]
    ]
    return ", ".join(leaders) or "none seen"


def fault(lab: Lab, kind: str, name: str) -> None:
    {"kill": lab.kill_apiserver, "cut": lab.cut, "drain": lab.drain}[kind](name)


def journal(lab: Lab, since: float) -> dict[str, list[str]]:
    """What the masters' controller-managers and schedulers said about leadership since."""
    script = (
        f"journalctl -o short-precise --since=@{int(since)} -u kube-controller-manager "
        "-u kube-scheduler | grep -iE 'leader|lease|lost|timeout|refused' | tail -n 30"
    )
    return {m.name: lab.exec_in_node(m.name, ["sh", "-c", script]).stdout.splitlines()
            for m in lab.masters}  # fmt: skip


def row_name(profile: Profile) -> str:
    """The strategy, and how its balancer runs when kubelet runs it (a static pod)."""
    # the strategy's plan, not build_plan: naming a row validates nothing (the lab's key files
    # need not exist yet)
    static = any(n.static_pods for n in registry.get(profile.strategy).plan(profile).nodes)
    return f"{profile.strategy} (static pod)" if static else profile.strategy


def drill(
    lab: Lab, dep: Deployment, kind: str, victim: str, label: str, log, config: str = ""
) -> DrillRow:
    """One fault under the real clients; ``config``: the row's name when the nodes run a seed
    guide's config instead of kubeha's (``profile.strategy``'s)."""
    profile = dep.profile
    config = config or row_name(profile)
    log(f"real clients: {config}, {label} {victim}")
    reset_service(lab)
    agents = start_agents(lab, dep, victim, duration=MAX_HOLD_S + 180)  # a bound: stopped earlier
    for agent in agents:
        if agent.clock_error:
            log(
                f"real clients: {agent.records.node}'s clock read within {agent.clock_error * 1000:.0f} ms"
            )
    leased = not dep.guests
    records = [a.records for a in agents]
    writer = next(a.records for a in agents if a.writer)
    try:

        def warmed() -> bool | str:
            slow = [
                r.node
                for r in records
                if sum(n >= 0 for _t, n in r.events) < 3
                or (r.hz and not any(n >= 0 for _t, n in r.rules))
            ]
            # A live leader on both leases (an apply restarts them: the old holder's lease must
            # expire, 15 s, before a new process takes it): renewed within the last 4 s.
            live = {n for _t, n, _h, renew in writer.leases if renew and renew > time.time() - 4}
            leases_ok = len(live) == 2 or not leased
            return (not slow and leases_ok) or f"waiting for {slow}, live leases {live}"

        wait(warmed, 90, "every watch and kube-proxy delivering, both leases renewed")
        ready = time.time()
        time.sleep(BASELINE_S)  # a bench's fixed span, measured, not a wait for a condition
        if kind == "cut" and lab.state.control_plane == KUBEADM:
            log(f"real clients: etcd's leader before the cut: {etcd_leader(lab)}")
        at = time.time()
        fault(lab, kind, victim)
        excluded = {victim} if kind == "cut" else set()

        def recovered() -> bool | str:
            now = time.time()
            if now < at + MIN_HOLD_S:
                return "holding"
            late = [n for n, _a, t1, c in writer.writes if c == 200 and t1 > at + MIN_HOLD_S - 1]
            if not late:
                return "no write acknowledged since"
            behind = [
                r.node
                for r in records
                if r.node not in excluded and not any(m >= late[0] for _t, m in r.events)
            ]
            # kube-proxy back too: its rules hold a write made since (an emulated guest's
            # kube-proxy needs seconds per sync even without a fault).
            behind += [
                r.node
                for r in records
                if r.hz and r.node not in excluded and not any(m >= late[0] for _t, m in r.rules)
            ]
            renewed = {n for _t, n, _h, renew in writer.leases if renew and renew > at}
            leases_ok = len(renewed) == 2 or not leased
            return (not behind and leases_ok) or f"behind: {behind}, renewed {renewed}"

        try:
            wait(recovered, MAX_HOLD_S, "recovery")
        except RuntimeError as exc:
            log(f"real clients: held {MAX_HOLD_S:g} s, not all back: {exc}")
        restore = time.time()
    finally:
        try:
            lab.restore(victim)
        except LabError:  # a loaded host: a real apiserver's start can outlast restore's wait
            lab.restore(victim)
        for agent in agents:
            agent.stop()
    row = drill_row(config, label, victim, records, excluded, ready, at, restore)
    if RECORDS is not None:
        name = f"{config.replace(' ', '-')}-{label.replace(' ', '-')}.json"
        dump = {"fault": at, "restore": restore, "ready": ready, "journal": journal(lab, at),
                "nodes": [dataclasses.asdict(r) for r in records]}  # fmt: skip
        (RECORDS / name).write_text(json.dumps(dump))
    wait(lambda: settled(lab, dep), 120, f"{profile.strategy} settled after {label}")
    return row


def measure(
    lab: Lab, strategies=STRATEGIES, kinds=KINDS, log=print, seeds: bool = False
) -> list[DrillRow]:
    """Every fault per strategy; with ``seeds``, then the same faults with the seed guide's
    config of that strategy (bench.seeds: guide 000's nginx, guide 004's haproxy) in place of
    kubeha's, the clients still repointed to the same address."""
    prepare(lab)
    rows: list[DrillRow] = []
    for strategy in strategies:
        dep = deploy(lab, strategy, log)
        profile = dep.profile
        configs = [""] + ([SEEDS[strategy]] if seeds and strategy in SEEDS else [])
        for config in configs:
            holders = vip_holders(profile) if strategy == "haproxy-keepalived" else set()
            victim = next(m.name for m in lab.masters if m.name not in holders)
            for kind in kinds:
                if config:  # a fresh seed proxy per drill: no passive state carried over
                    install_seed(lab, profile)
                rows.append(drill(lab, dep, kind, victim, kind, log, config))
                log(markdown(rows[-1:]).splitlines()[-1])
            if strategy == "haproxy-keepalived" and "cut" in kinds:
                if config:
                    install_seed(lab, profile)
                holder = sorted(vip_holders(profile))[0]
                rows.append(drill(lab, dep, "cut", holder, "cut VIP holder", log, config))
                log(markdown(rows[-1:]).splitlines()[-1])
    return rows


@contextlib.contextmanager
def real_lab(
    clean_up: Callable[[Lab], None], hardened: bool = False, control_plane: str = "real"
) -> Iterator[Lab]:
    """The lab with its real control plane (``hardened``: its apiservers refuse anonymous
    requests, the profiles check with each node's client certificate; ``control_plane``
    ``kubeadm``: the kubeadm lab); at the end ``clean_up`` (no strategy left), then the
    stand-in back, whatever happened."""
    lab = up(
        3,
        2,
        0,
        replace=True,
        control_plane=control_plane,
        hardened=hardened,
        log=lambda s: print(f"[lab] {s}"),
    )
    try:
        yield lab
    finally:
        try:
            clean_up(lab)
        finally:
            up(3, 2, 0, replace=True, log=lambda s: print(f"[lab] {s}"))


def main(argv=None) -> int:
    from bench.run import lab_lock
    from wizard.lab.system import require_root

    parser = argparse.ArgumentParser(prog="python -m bench.real_clients", description=__doc__)
    parser.add_argument("--strategy", action="append", choices=STRATEGIES)
    parser.add_argument("--kind", action="append", choices=KINDS)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--records", type=Path, help="a folder for every drill's raw records")
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the lab lock")
    parser.add_argument(
        "--seeds", action="store_true", help="also the seed guides' configs (guides 000, 004)"
    )
    parser.add_argument(
        "--control-plane",
        choices=("real", KUBEADM),
        default="real",
        help="real: the lab's five-binary control plane (default); kubeadm: the kubeadm lab "
        "(static pods, stacked etcd, kube-proxy DaemonSet; kill and cut, local strategies and "
        "haproxy-keepalived)",
    )
    parser.add_argument(
        "--static-pod",
        action="store_true",
        help="with --control-plane kubeadm: each balancer as a static pod "
        '(the lab\'s lab-<strategy>-static-pod profiles, [balancer] run_as = "static-pod")',
    )
    parser.add_argument(
        "--hardened",
        action="store_true",
        help="on the hardened lab: apiservers with --anonymous-auth=false, checks by client cert",
    )
    args = parser.parse_args(argv)
    kubeadm = args.control_plane == KUBEADM
    if kubeadm and (args.hardened or "ipvs" in (args.strategy or ())):
        parser.error("--control-plane kubeadm: not with --hardened or --strategy ipvs")
    if kubeadm and "drain" in (args.kind or ()):
        parser.error("--control-plane kubeadm: --kind kill or cut (a drain is kubelet's there)")
    if args.static_pod and not kubeadm:
        parser.error("--static-pod: only with --control-plane kubeadm (kubelet runs the pods)")
    require_root()
    global RECORDS, STATIC_POD
    RECORDS = args.records
    STATIC_POD = args.static_pod
    if RECORDS is not None:
        RECORDS.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    strategies = tuple(args.strategy or (NSPAWN_STRATEGIES if kubeadm else STRATEGIES))
    kinds = tuple(args.kind or (KUBEADM_KINDS if kubeadm else KINDS))
    with (
        lab_lock(not args.no_lock),
        real_lab(uninstall_all, args.hardened, args.control_plane) as lab,
    ):
        rows = measure(lab, strategies, kinds, seeds=args.seeds)
    lab_kind = "hardened lab" if args.hardened else "kubeadm lab" if kubeadm else "lab"
    lab_kind += ", balancers as static pods" if STATIC_POD else ""
    print(f"real clients on the {lab_kind}, {started}:\n{markdown(rows)}")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
