"""The ``kubeadm_lab`` module fixture: the session's lab turned into the kubeadm lab (``lab up
--control-plane kubeadm``, same shape), and the stand-in given back when no test that comes
next needs it.

A kubeadm bring-up costs minutes, so the modules that use it share one: each imports this
fixture (``from tests.support.kubeadm_fixture import kubeadm_lab  # noqa: F401``), tests/
conftest.py's :func:`group_kubeadm_modules` runs those modules one after the other, and a
module's teardown leaves the kubeadm lab up when the next test needs it too (``up`` then reuses
the lab that is up). Without the cached kubelet/kubeadm build the modules are skipped (failed
under CI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.lab import Lab, kube_build, up

FIXTURE = "kubeadm_lab"


def _log(line: str) -> None:
    print(f"[kubeadm lab] {line}")


def uses_kubeadm_lab(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def group_kubeadm_modules(items: list[pytest.Item]) -> None:
    """The modules whose tests use the kubeadm lab, moved (in order, each whole) to where the
    first of them is: one bring-up serves them all. Every other test keeps its order."""
    modules = {_module(item) for item in items if uses_kubeadm_lab(item)}
    if len(modules) < 2:
        return
    first = next(i for i, item in enumerate(items) if _module(item) in modules)
    grouped = [item for item in items if _module(item) in modules]
    after = [item for item in items[first:] if _module(item) not in modules]
    items[first:] = [*grouped, *after]


def _next_needs_it(request: pytest.FixtureRequest) -> bool:
    """Whether the first test after this module uses the kubeadm lab too."""
    if request.session.shouldfail or request.session.shouldstop:  # -x: nothing runs next
        return False
    module = request.node.nodeid.split("::")[0]
    seen = False
    for item in request.session.items:
        here = _module(item) == module
        if here:
            seen = True
        elif seen:
            return uses_kubeadm_lab(item)
    return False


@pytest.fixture(scope="module")
def kubeadm_lab(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    if kube_build.cached_node() is None:
        message = "no cached kubelet/kubeadm build: `python -m wizard.lab.kube_build --kubeadm`"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    shape = lab.shape
    started = time.monotonic()
    made = up(*shape, replace=True, control_plane="kubeadm", log=_log)  # reused when it is up
    _log(f"up in {time.monotonic() - started:.1f} s")
    try:
        yield made
    finally:
        if _next_needs_it(request):
            _log("left up for the next module")
        else:
            up(*shape, replace=True, log=_log)  # the stand-in back, same shape
            lab.refresh()
            # The kubeadm nodes' own cgroups (and kubelet's pods under them) went with them:
            # the stand-in nodes have theirs afresh (every lab node has its own), none of
            # kubelet's in them, and no folder of a node that is not up.
            ours = list(Path("/sys/fs/cgroup").glob("*/**/kubeha-lab-*"))
            assert not [d for d in ours for _ in d.glob("**/kubepods*")], ours
            up_now = {f"kubeha-lab-{n.name}" for n in lab.state.nodes}
            assert {d.name for d in ours} <= up_now, sorted({d.name for d in ours} - up_now)
