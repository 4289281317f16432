"""``kubeha verify PROFILE [--drill [--master NAME|vip-holder] [--kind kill|cut|drain]]``: a table per node of
what it reaches through its load balancer; with ``--drill``, a failover drill. Exit 1 when any
node fails."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from wizard.commands.loading import load_plan
from wizard.commands.options import connection_options, profile_argument
from wizard.errors import KubehaError
from wizard.example_addresses import refuse_example_addresses
from wizard.jsonlines import json_line, plain
from wizard.profile import Profile
from wizard.terminal import one_line

if TYPE_CHECKING:
    from wizard.engine.model import ApplyOptions
    from wizard.engine.sessions import NodeSessions
    from wizard.plan import RenderPlan

KINDS = (
    "kill",
    "cut",
    "drain",
)  # wizard.engine.drill_run.KINDS; the engine is imported only to run


def register(subparsers: argparse._SubParsersAction) -> None:
    verify = subparsers.add_parser(
        "verify",
        help="check every node reaches a ready apiserver through its load balancer; --drill: failover",
    )
    profile_argument(verify)
    verify.add_argument(
        "--drill",
        action="store_true",
        help="take one master away during request loops and watches, then restore it",
    )
    verify.add_argument(
        "--master",
        metavar="NAME",
        help="the master the drill takes away, or vip-holder: the node holding the VIP",
    )
    verify.add_argument(
        "--kind",
        choices=KINDS,
        default="kill",
        help="kill (default), cut (lab only) or drain (a graceful stop, as an upgrade does)",
    )
    verify.add_argument(
        "--confirm-master",
        metavar="NAME",
        help="real clusters: agree to stop NAME's kube-apiserver without a prompt",
    )
    verify.add_argument(
        "--ca-file",
        metavar="PATH",
        type=ca_file_path,
        help="the cluster CA on the nodes: the answer's certificate must be issued by it and "
        "name the address clients dial (default: the profile's [clients] ca_file; none: not checked)",
    )
    verify.add_argument(
        "--json", action="store_true", help="print the result as one JSON line (docs/JSON.md)"
    )
    connection_options(verify)
    verify.set_defaults(func=run_verify_command)


def ca_file_path(text: str) -> str:
    """--ca-file: an absolute path on the nodes (checked before any connection)."""
    from wizard.validation import ABS_PATH_RE

    if not ABS_PATH_RE.fullmatch(text) or ".." in text.split("/"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected an absolute path on the nodes, e.g. /etc/kubernetes/pki/ca.crt"
        )
    return text


def _check_drill_arguments(profile: Profile, args: argparse.Namespace) -> tuple[str, bool]:
    """Every drill argument checked before any connection: (the master, whether it is the lab)."""
    from wizard.commands.lab_drill import is_lab_profile
    from wizard.engine.drill_run import VIP_HOLDER, choose_master

    if not args.drill:
        if args.master is not None or args.confirm_master is not None:
            raise KubehaError("--master and --confirm-master go with --drill")
        return "", False
    if args.kind not in KINDS:
        raise KubehaError(f"--kind: {args.kind!r}: expected one of {', '.join(KINDS)}")
    master = choose_master(profile, args.master)
    lab = is_lab_profile(profile)
    if lab:
        return master, True
    if args.kind == "cut":
        raise KubehaError(
            "--kind: 'cut' takes a host off the network: only the lab can do that; use --kind kill"
        )
    if master == VIP_HOLDER:  # named once verify has found the holder
        if args.confirm_master is None and not sys.stdin.isatty():
            raise KubehaError(
                "the drill stops the kube-apiserver on the VIP holder: pass --confirm-master "
                "with its name (or run it in a terminal to be asked)"
            )
        return master, False
    if args.confirm_master is not None and args.confirm_master != master:
        raise KubehaError(
            f"--confirm-master: {args.confirm_master!r} is not the master the drill takes away: "
            f"expected {master!r} (or pass --master {args.confirm_master!r})"
        )
    if args.confirm_master is None and not sys.stdin.isatty():
        raise KubehaError(
            f"the drill stops the kube-apiserver on {master}: "
            f"pass --confirm-master {master} (or run it in a terminal to be asked)"
        )
    return master, False


def _agreed(master: str, args: argparse.Namespace) -> bool:
    """A real cluster: the operator must name the master whose apiserver is stopped (a
    --confirm-master was checked against it before verify connected)."""
    if args.confirm_master is not None:
        return bool(args.confirm_master == master)
    print(
        f"The drill stops the kube-apiserver on {master} for about a minute, then starts it again."
    )
    answer = input(f"Type {master} to agree: ").strip()
    return answer == master


def run_verify_command(args: argparse.Namespace) -> int:
    # The engine (fabric, paramiko) loads only when a command runs: --help stays fast.
    from wizard.engine.model import ApplyOptions
    from wizard.engine.secrets_input import collect
    from wizard.engine.sessions import NodeSessions

    plan = load_plan(args.profile)  # validated and rendered once: verify and the drill use it
    profile = plan.profile
    master, lab = _check_drill_arguments(profile, args)  # every argument before any connection
    refuse_example_addresses(profile, "verify")
    options = ApplyOptions(trust_new_host_keys=args.trust_new_host_keys)
    secrets = collect(profile, args.ask_sudo_password)
    with NodeSessions.over_ssh(profile, options, secrets) as sessions:  # one per node, for both
        return _verify_then_drill(args, plan, master, lab, options, sessions)


def _verify_then_drill(
    args: argparse.Namespace,
    plan: RenderPlan,
    master: str,
    lab: bool,
    options: ApplyOptions,
    sessions: NodeSessions,
) -> int:
    from wizard.commands.lab_drill import LabFault
    from wizard.engine.drill import drill_rows
    from wizard.engine.drill_run import VIP_HOLDER, resolve_vip_holder, run_drill
    from wizard.engine.verify import format_table, report_lines, run_verify

    profile = plan.profile
    report = run_verify(plan, options, ca_file=args.ca_file, sessions=sessions)
    if not args.drill or not report.ok:
        if args.json:
            print(json_line("verify", report))
        else:
            print("\n".join(report_lines(report)))
            if args.drill:
                print("no drill: the setup must verify first")
        return 0 if report.ok else 1
    print("\n".join(report_lines(report)), file=sys.stderr if args.json else sys.stdout)
    if master == VIP_HOLDER:
        holders = [c.node for c in report.nodes if c.holds_vip]
        master = resolve_vip_holder(profile, holders, args.kind)
    if not lab and not _agreed(master, args):
        print("no drill: nothing was stopped", file=sys.stderr if args.json else sys.stdout)
        return 1
    fault = LabFault(master, args.kind) if lab else None  # None: stopped over SSH
    drill = run_drill(plan, master, args.kind, options=options, fault=fault, sessions=sessions)
    if args.json:
        body = plain(drill)
        body["fault"] = body.pop("kind")  # kill or cut; the line's own kind is "drill"
        print(json_line("drill", body))
    else:
        where = "lab" if lab else "cluster"
        print(f"drill on the {where}: {args.kind} {master}'s apiserver, then restore it")
        print("\n".join(format_table(drill_rows(drill))))
        for note in drill.notes:
            print(f"note: {one_line(note)}")
        print(
            "failed: started after the fault and no 200 within 5 s; lost in flight: already "
            "running at the fault (no TCP proxy can replay it); stalled: 200 after more than 1 s"
        )
        print(
            "drill passed"
            if drill.ok
            else "drill FAILED: failed requests or a watch not back within 5 s"
        )
    return 0 if drill.ok else 1
