"""Settings an apply does not change in place (:class:`~wizard.plan.InPlaceRule`): each read
from the node's copy of kubeha's file, before anything changes, and compared with the plan's."""

from __future__ import annotations

import re
from collections.abc import Callable

from wizard.plan import InPlaceRule, NodePlan
from wizard.textsafe import shown

MAX_SETTING_CHARS = 40


def setting(text: str, rule: InPlaceRule) -> str:
    """The rule's setting in ``text`` (``rule.absent`` when the file does not state it)."""
    found = re.search(rule.pattern, text, re.MULTILINE)
    return found.group(1) if found else rule.absent


def refusal(
    node: str, plan: NodePlan, ours: tuple[str, ...], read_text: Callable[[str], str | None]
) -> str | None:
    """Why the plan may not go on this node, or None: a rule whose file kubeha wrote here
    (``ours``: the node's record of kubeha's files) states another setting than the plan's."""
    contents = {f.path: f.content for f in plan.files}
    for rule in plan.in_place_rules:
        if rule.path not in ours or rule.path not in contents:
            continue
        now = read_text(rule.path)
        if now is None:
            continue
        was, wanted = setting(now, rule), setting(contents[rule.path], rule)
        if was != wanted:
            return (
                f"node {node}: {rule.field} is {shown(was, MAX_SETTING_CHARS)} here "
                f"({rule.path}) and the profile makes it {shown(wanted)}; changing it in place "
                f"is refused: {rule.why}; nothing was changed on this node"
            )
    return None
