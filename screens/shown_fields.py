"""Problems as the wizard shows them: counted from 1, as the screen counts, nodes named.

The core names a list item by its index from 0 (``masters[1].address``, in
``wizard.problems.Problem.field`` and in some expectations: "it is masters[0].address"); the
CLI prints that as it is. The wizard's screens count from 1 and show node names, so every
problem, example-address line or profile error the wizard shows passes through here:
``masters[1].address`` reads ``Masters #2 (master2) address``, ``clients.kubeconfigs[0]``
reads ``clients.kubeconfigs #1``. A step that numbers its own lines (Nodes, Clients) names
the field by its line first (``field_name``); what is left is translated here.
"""

from __future__ import annotations

import dataclasses
import re

from wizard.problems import Problem
from wizard.profile import Profile
from wizard.textsafe import printable

GROUP_TITLES = {"masters": "Masters", "workers": "Workers", "lb_nodes": "LB nodes"}
_INDEXED = re.compile(r"(?<![\w.])([a-z_]+(?:\.[a-z_]+)*)\[(\d+)\](\.)?")


def shown_text(text: str, profile: Profile | None = None) -> str:
    """``text`` with every ``list[i]`` counted from 1, a node also named by its name."""

    def one(match: re.Match[str]) -> str:
        path, index, dot = match.group(1), int(match.group(2)), match.group(3)
        title = GROUP_TITLES.get(path)
        if title is None:
            return f"{path} #{index + 1}" + (" " if dot else "")
        nodes = getattr(profile, path, ()) if profile is not None else ()
        name = f" ({printable(nodes[index].name)})" if index < len(nodes) else ""
        return f"{title} #{index + 1}{name}" + (" " if dot else "")

    return _INDEXED.sub(one, text)


def shown_problem(problem: Problem, profile: Profile | None = None) -> Problem:
    """The problem with its field and expectation counted from 1 (its value as it is)."""
    return dataclasses.replace(
        problem,
        field=shown_text(problem.field, profile),
        expected=shown_text(problem.expected, profile),
    )
