"""Rendering: the render plan of a valid profile, made by its strategy.

The plan's types live in ``wizard.plan`` and the templates' Environment in
``wizard.templating``; both are re-exported here for the callers that render.
"""

from __future__ import annotations

from wizard.plan import NodePlan, RenderedFile, RenderPlan
from wizard.problems import Problem, errors_in
from wizard.profile import Profile
from wizard.templating import RenderError, environment, make_environment, render_template

__all__ = [
    "InvalidProfile",
    "NodePlan",
    "RenderError",
    "RenderPlan",
    "RenderedFile",
    "build_plan",
    "environment",
    "make_environment",
    "render_template",
]


class InvalidProfile(RenderError):
    """:func:`build_plan` of a profile with errors: ``problems`` are every one of them."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


def build_plan(profile: Profile) -> RenderPlan:
    """The render plan of a valid profile (validated here, once); a profile with errors raises
    InvalidProfile."""
    from wizard.strategies import registry
    from wizard.validation import validate

    problems = errors_in(validate(profile))
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise InvalidProfile(f"profile {profile.name!r} is not valid:\n{lines}", problems)
    return registry.get(profile.strategy).plan(profile)
