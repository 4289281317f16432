"""``kubeha validate PROFILE`` and ``kubeha render PROFILE --out DIR``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from wizard.errors import KubehaError
from wizard.problems import errors_in
from wizard.profile_io import ProfileError, load_profile
from wizard.render import RenderPlan, build_plan
from wizard.validation import validate


def register(subparsers: argparse._SubParsersAction) -> None:
    validate_parser = subparsers.add_parser(
        "validate", help="check a profile and list every problem"
    )
    validate_parser.add_argument("profile", type=Path, help="the profile .toml file")
    validate_parser.set_defaults(func=run_validate)

    render_parser = subparsers.add_parser(
        "render", help="write every node's generated files into a folder, one folder per node"
    )
    render_parser.add_argument("profile", type=Path, help="the profile .toml file")
    render_parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    render_parser.set_defaults(func=run_render)


def _load(path: Path):
    """The profile, or None after printing every reason it cannot be read."""
    try:
        return load_profile(path)
    except ProfileError as exc:
        print(str(exc), file=sys.stderr)
        return None


def run_validate(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    if profile is None:
        return 1
    problems = validate(profile)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr if problem.is_error else sys.stdout)
    errors = errors_in(problems)
    if errors:
        print(
            f"{args.profile}: {len(errors)} error(s); the profile cannot be used", file=sys.stderr
        )
        return 1
    nodes = len(profile.all_nodes())
    print(
        f"{args.profile}: valid ({profile.strategy}, {len(profile.masters)} master(s), {nodes} node(s)"
        f"{f', {len(problems)} warning(s)' if problems else ''})"
    )
    return 0


def write_plan(plan: RenderPlan, out: Path) -> list[Path]:
    """Write the plan under ``out``: ``<node>/<absolute path>`` per file and ``_cluster/`` for the
    operator's snippets. The folder is built beside ``out`` and swapped in whole, so a failed
    render never leaves half a tree."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    written: list[Path] = []
    try:
        for node_plan in plan.nodes:
            node_dir = staging / node_plan.node
            node_dir.mkdir()
            for rendered in node_plan.files:
                target = node_dir / rendered.path.lstrip("/")
                if rendered.kind == "line":  # one managed line of a shared file, e.g. /etc/hosts
                    target = target.with_name(f"{target.name}.kubeha-line")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(rendered.content, encoding="utf-8")
                os.chmod(target, rendered.mode)
                written.append(out / target.relative_to(staging))
        cluster = staging / "_cluster"
        cluster.mkdir()
        for snippet in plan.snippets:
            (cluster / snippet.path).write_text(snippet.content, encoding="utf-8")
            written.append(out / "_cluster" / snippet.path)
        if out.exists():
            if not out.is_dir():
                raise KubehaError(f"--out {out}: exists and is not a folder")
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return written


def run_render(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    if profile is None:
        return 1
    plan = build_plan(profile)
    try:
        written = write_plan(plan, args.out)
    except OSError as exc:
        raise KubehaError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    print(f"rendered {len(written)} file(s) for {len(plan.nodes)} node(s) into {args.out}")
    for node_plan in plan.nodes:
        names = ", ".join(f.path for f in node_plan.files) or "(nothing to install: verify only)"
        print(f"  {node_plan.node:<12} {node_plan.role:<7} {names}")
    print(f"  _cluster     kubeconfig server: {plan.server_url}")
    return 0
