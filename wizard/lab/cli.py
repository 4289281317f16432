"""``kubeha lab``: up, status, down, and the faults kill-apiserver, cut, drain, restore."""

from __future__ import annotations

import argparse

import tomli_w

from wizard.lab import control_plane as cp
from wizard.lab import kube_build, qemu
from wizard.lab import lab as lab_ops
from wizard.lab.constants import CA_CERT_FILE, MAX_PER_ROLE, MAX_WORKERS
from wizard.lab.profiles import profile_name, write_profiles


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lab`` and its subcommands to kubeha's parser."""
    parser = subparsers.add_parser(
        "lab",
        help="run real nodes on this machine to try kubeha on (needs root)",
        description="A lab of systemd-nspawn nodes on a private bridge, for trying kubeha "
        "and for its end-to-end tests. Needs root.",
    )
    sub = parser.add_subparsers(dest="lab_command", metavar="LAB_COMMAND", required=True)

    p = sub.add_parser("up", help="bring the lab up (reuses it if already up)")
    p.add_argument("--masters", type=_count(1), default=3, help="masters (default 3)")
    p.add_argument(
        "--workers", type=_count(0, MAX_WORKERS), default=2, help="workers (default 2, at most 99)"
    )
    p.add_argument("--lb-nodes", type=_count(0), default=0, help="dedicated LB nodes (default 0)")
    p.add_argument(
        "--ipvs-nodes",
        type=_count(0),
        default=0,
        help="QEMU nodes with a kernel that has IPVS, at 10.77.0.41+ (default 0)",
    )
    p.add_argument(
        "--control-plane",
        choices=cp.CONTROL_PLANES,
        default=cp.STAND_IN,
        help="stand-in: a small Python apiserver per master (default); real: etcd, "
        "kube-apiserver, controller-manager, scheduler on the masters, kube-proxy on the "
        "workers (Kubernetes 1.20 built from Debian's source once: 15-25 min, then cached); "
        "kubeadm: kubelet, containerd and runc on every node, the control plane made by "
        "kubeadm init and join (static pods, stacked etcd, kube-proxy DaemonSet)",
    )
    p.add_argument(
        "--hardened",
        action="store_true",
        help="with --control-plane real: the apiservers refuse anonymous requests "
        "(--anonymous-auth=false, /readyz answers 401 without credentials) and every node has a "
        "kubelet client certificate; the lab's profiles check with it (auth = client-cert)",
    )
    p.add_argument(
        "--ipv6",
        action="store_true",
        help="dual stack: every node gets an IPv6 address too (fd77::/64, mirroring "
        "10.77.0.0/24), and lab-<strategy>-ipv6 profiles address everything by IPv6",
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser(
        "build-kube",
        help="build the real control plane's Kubernetes binaries now (cached)",
        description="Build kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy "
        "and kubectl from Debian's kubernetes source with Debian's Go 1.19, once, into "
        f"{kube_build.CACHE_DIR}/kube-<key>; with the cache present it only finds them.",
    )
    p.set_defaults(func=cmd_build_kube)

    p = sub.add_parser("status", help="show the lab's nodes and their state")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("down", help="remove the lab and everything it made")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser(
        "add-master",
        help="add a master to the running real control plane (m4, ...: etcd member and all)",
    )
    p.set_defaults(func=cmd_add_master)
    p = sub.add_parser(
        "remove-master",
        help="remove a master from the running real control plane (its apiserver stopped "
        "gracefully, then its etcd member: leadership handed over, stopped, removed)",
    )
    p.add_argument("node", metavar="NODE", help="the master, e.g. m1")
    p.set_defaults(func=cmd_remove_master)

    for name, func, text in (
        ("kill-apiserver", cmd_kill, "SIGKILL a master's apiserver (clients get refused)"),
        ("cut", cmd_cut, "cut a node off the network (packets dropped silently)"),
        ("drain", cmd_drain, "stop a master's apiserver gracefully, as an upgrade does"),
        ("restore", cmd_restore, "undo cut, kill-apiserver and drain on a node"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("node", metavar="NODE", help="node name, e.g. m1")
        p.set_defaults(func=func)


def _count(minimum: int, maximum: int = MAX_PER_ROLE):
    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a whole number from {minimum} to {maximum}"
            )
        return value

    return count


def cmd_build_kube(args: argparse.Namespace) -> int:
    lab_ops.require_root()
    return kube_build.main([])


def cmd_up(args: argparse.Namespace) -> int:
    lab = lab_ops.up(
        args.masters,
        args.workers,
        args.lb_nodes,
        control_plane=args.control_plane,
        hardened=args.hardened,
        ipv6=args.ipv6,
    )
    guests = qemu.ensure_guests(args.ipvs_nodes)
    written = write_profiles(lab.state)
    if guests:  # the ipvs profile gets the QEMU nodes (the nspawn nodes' kernel has no IPVS)
        for ipv6 in (False, True) if lab.state.ipv6 else (False,):
            ipvs = next(p for p in written if p.name == f"{profile_name('ipvs', ipv6)}.toml")
            profile = qemu.ipvs_profile(lab.state, guests, ipv6)
            ipvs.write_bytes(tomli_w.dumps(profile).encode())
    _print_table(lab_ops.status_rows())
    for guest in guests:
        print(f"{guest.name}  ipvs (QEMU)  {guest.address}  ssh {guest.ssh_host}:{guest.ssh_port}")
    print()
    print("profiles for the lab:")
    for path in written:
        print(f"  {path}")
    print(f"lab CA certificate: {CA_CERT_FILE}")
    if lab.state.control_plane == cp.REAL:
        print(
            "control plane: real (etcd, kube-apiserver, kube-controller-manager, kube-scheduler "
            "on the masters; kube-proxy on the workers); on any node: kubectl get --raw /readyz"
        )
        if lab.state.hardened:
            print(
                "hardened: anonymous requests refused (401); each node's client certificate: "
                f"{cp.KUBELET_CLIENT_PEM}"
            )
    if lab.state.control_plane == cp.KUBEADM:
        print(
            "control plane: kubeadm (static pods in /etc/kubernetes/manifests, stacked etcd, "
            "kube-proxy DaemonSet; controlPlaneEndpoint and cluster-info name m1); on a master: "
            "kubectl get pods -A"
        )
    print()
    print("next:")
    print(f"  kubeha validate {written[0]}")
    print(f"  kubeha apply {written[0]} --yes")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lab_ops.require_root()
    rows = lab_ops.status_rows()
    if not rows:
        print("no lab is up (kubeha lab up)")
        return 0
    _print_table(rows)
    recorded = lab_ops.load_state()
    if recorded is not None and recorded.control_plane == cp.REAL:
        print(f"control plane: real (binaries from {recorded.kube_bin})")
    for guest in qemu.read_guests():
        running = "running" if qemu.guest_alive(guest) else "stopped"
        print(
            f"{guest.name}  ipvs (QEMU)  {guest.address}  ssh {guest.ssh_host}:{guest.ssh_port}  {running}"
        )
    state = lab_ops.load_state()
    if state is not None and not lab_ops.is_healthy(state):
        print("\nthe lab is not healthy: run `kubeha lab down` and `kubeha lab up`")
        return 1
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab_ops.down()
    return 0


def cmd_add_master(args: argparse.Namespace) -> int:
    from wizard.lab import masters

    added = masters.add_master(log=print)
    print(
        f"{added.name}: {added.address}, SSH {added.ssh_host}:{added.ssh_port}; "
        f"`kubeha masters add|replace PROFILE ... --name {added.name} --address {added.address} "
        f"--ssh-host {added.ssh_host} --ssh-port {added.ssh_port}`"
    )
    return 0


def cmd_remove_master(args: argparse.Namespace) -> int:
    from wizard.lab import masters

    masters.remove_master(args.node, log=print)
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    lab_ops.kill_apiserver(args.node)
    print(f"{args.node}: apiserver killed (SIGKILL); `kubeha lab restore {args.node}` to undo")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    lab_ops.drain(args.node)
    print(
        f"{args.node}: apiserver draining (SIGTERM): /readyz fails for 6 s while requests are "
        f"served, then it stops; `kubeha lab restore {args.node}` to start it again"
    )
    return 0


def cmd_cut(args: argparse.Namespace) -> int:
    lab_ops.cut(args.node)
    print(f"{args.node}: cut off the network; `kubeha lab restore {args.node}` to undo")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    lab_ops.restore(args.node)
    print(f"{args.node}: restored")
    return 0


COLUMNS = ("node", "role", "address", "ssh", "container", "apiserver", "cut")


def _print_table(rows: list[dict[str, str]]) -> None:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS}
    print("  ".join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip())
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip())
