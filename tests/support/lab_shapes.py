"""Lab modules that need the same kind of lab run one after the other, and the lab is handed
from one to the next instead of being given back between them.

A lab bring-up costs seconds (the stand-in) to a minute (the real control plane), so modules
that need the same lab other than the session's stand-in share one bring-up: the real control
plane (any module whose tests use the ``real_lab`` fixture) and the dual-stack lab (a module
that says ``LAB_KIND = "dual-stack"``). :func:`group_lab_kinds` (tests/conftest.py) moves
each kind's modules, in order and each whole, to where the first of them is; a module's
fixture asks :func:`next_needs` before it gives the stand-in back (``up`` then reuses the lab
that is up for the next module)."""

from __future__ import annotations

import pytest

REAL = "real"
DUAL_STACK = "dual-stack"


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def lab_kind(item: pytest.Item) -> str | None:
    """The kind of lab ``item`` needs beyond the session's stand-in, or None."""
    if "real_lab" in getattr(item, "fixturenames", ()):
        return REAL
    module = getattr(item, "module", None)
    kind = getattr(module, "LAB_KIND", None)
    return kind if isinstance(kind, str) else None


def group_lab_kinds(items: list[pytest.Item]) -> None:
    """Each kind's modules moved (in order, each whole) to where the first of them is. Every
    other test keeps its order."""
    for kind in (REAL, DUAL_STACK):
        modules = {_module(item) for item in items if lab_kind(item) == kind}
        if len(modules) < 2:
            continue
        first = next(i for i, item in enumerate(items) if _module(item) in modules)
        grouped = [item for item in items if _module(item) in modules]
        after = [item for item in items[first:] if _module(item) not in modules]
        items[first:] = [*grouped, *after]


def next_needs(request: pytest.FixtureRequest, kind: str) -> bool:
    """Whether the first test after this module needs a lab of ``kind`` too."""
    if request.session.shouldfail or request.session.shouldstop:  # -x: nothing runs next
        return False
    module = request.node.nodeid.split("::")[0]
    seen = False
    for item in request.session.items:
        if _module(item) == module:
            seen = True
        elif seen:
            return lab_kind(item) == kind
    return False


_FOUND_IPV6 = pytest.StashKey[bool]()


def found_dual_stack(request: pytest.FixtureRequest, was_ipv6: bool) -> bool:
    """Whether the lab was dual-stack before the first of these dual-stack modules made it so
    (``was_ipv6``: what this module found, which is the first one's answer only)."""
    return request.session.stash.setdefault(_FOUND_IPV6, was_ipv6)


def last_dual_stack(request: pytest.FixtureRequest) -> bool:
    """At a dual-stack module's end: whether it is the last of them (it gives the lab back as
    the first found it) rather than handing the lab to the next."""
    if next_needs(request, DUAL_STACK):
        return False
    request.session.stash.__delitem__(_FOUND_IPV6)
    return True
