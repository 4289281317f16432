"""Plain-text views of a run for the headless CLI: the plan before it runs, the dry-run diffs,
and the per-node summary table after it. What a node answered (a diff, a reason, a lock's
holder) is escaped a line at a time (:func:`wizard.terminal.one_line`)."""

from __future__ import annotations

from collections.abc import Iterable

from wizard.engine.model import NodeResult, RunSummary
from wizard.engine.runstate import keep_runs
from wizard.render import RenderPlan
from wizard.terminal import one_line


def plan_lines(plan: RenderPlan, nodes: Iterable[str]) -> list[str]:
    wanted = set(nodes)
    lines = [
        f"profile {plan.profile.name}: strategy {plan.profile.strategy}, clients use {plan.server_url}"
    ]
    for node_plan in plan.nodes:
        if node_plan.node not in wanted:
            continue
        files = ", ".join(f.path for f in node_plan.files) or "nothing to install"
        services = ", ".join(node_plan.services) or "-"
        lines.append(
            f"  {node_plan.node:<14} {node_plan.role:<7} files: {files}; services: {services}"
        )
        lines.append(f"  {'':<14} {'':<7} verify: {node_plan.verify_url}")
    return lines


def diff_lines(result: NodeResult) -> list[str]:
    lines = [f"=== {one_line(result.node)}"]
    for diff in result.diffs:
        path = one_line(diff.path)
        if diff.action == "unchanged":
            lines.append(f"    {path}: unchanged")
        else:
            lines.append(f"    {path}: would {diff.action}")
            # split on newlines only: a CR or a form feed in a node's file is shown, not obeyed
            body = diff.diff.removesuffix("\n").split("\n") if diff.diff else []
            lines.extend(f"    {one_line(line.rstrip(' '))}" for line in body)
    lines.extend(f"    action: {one_line(action)}" for action in result.actions)
    if not result.diffs and not result.actions:
        lines.append(f"    {one_line(result.reason)}")
    return lines


def object_lines(summary: RunSummary) -> list[str]:
    """A dry run's diff of each of kubeadm's objects (``[clients] repoint``), escaped."""
    if not summary.objects:
        return []
    lines = ["=== cluster objects (through the API)"]
    for title, text in summary.objects:
        if text.startswith("unchanged"):
            lines.append(f"    {one_line(title)}: {one_line(text)}")
            continue
        lines.append(f"    {one_line(title)}: would change")
        body = text.removesuffix("\n").split("\n")
        lines.extend(f"    {one_line(line.rstrip(' '))}" for line in body)
    return lines


def summary_lines(summary: RunSummary) -> list[str]:
    width = max([len(n.node) for n in summary.nodes] + [4])
    lines = ["", f"{'node':<{width}}  {'result':<11}  details"]
    for result in summary.nodes:
        detail = result.reason
        if result.changed_files:
            detail += f"; files: {', '.join(result.changed_files)}"
        if result.restarted:
            detail += f"; restarted: {', '.join(result.restarted)}"
        if result.reloaded:
            detail += f"; reloaded: {', '.join(result.reloaded)}"
        if result.rollback:
            detail += f"; rollback: {result.rollback}"
        lines.append(
            f"{one_line(result.node):<{width}}  {result.state.value:<11}  {one_line(detail)}"
        )
    lines.extend(f"cluster: {one_line(problem)}" for problem in summary.cluster_problems)
    failed = summary.failed()
    verdict = "every node ok" if summary.ok else f"{len(failed)} node(s) failed: " + named(failed)
    lines.append(f"{verdict}. Run log: {summary.log_path}")
    if summary.log_path is not None:
        lines.append(
            f"Run folder: {summary.log_path.parent} (private; the last {keep_runs()} runs of "
            "each profile are kept, KUBEHA_KEEP_RUNS to change)"
        )
    return lines


NAMED_AT_MOST = 20  # a failed fleet is named by its first nodes; the table above has every one


def named(results) -> str:
    """The first NAMED_AT_MOST nodes' names, then how many more."""
    names = [one_line(r.node) for r in results]
    more = len(names) - NAMED_AT_MOST
    return ", ".join(names[:NAMED_AT_MOST]) + (f" and {more} more" if more > 0 else "")
