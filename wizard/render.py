"""Rendering: the render plan of a valid profile, made by its strategy.

The plan's types live in ``wizard.plan`` and the templates' Environment in
``wizard.templating``; both are re-exported here for the callers that render.
"""

from __future__ import annotations

from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import errors_in
from wizard.profile import Profile
from wizard.templating import RenderError, environment, make_environment, render_template

__all__ = [
    "NodePlan",
    "RenderError",
    "RenderPlan",
    "RenderedFile",
    "build_plan",
    "environment",
    "make_environment",
    "render_template",
]


def build_plan(profile: Profile) -> RenderPlan:
    """The render plan of a valid profile; a profile with errors raises RenderError."""
    from wizard.strategies import registry
    from wizard.validation import validate

    problems = errors_in(validate(profile))
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise RenderError(f"profile {profile.name!r} is not valid:\n{lines}")
    return registry.get(profile.strategy).plan(profile)
