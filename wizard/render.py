"""Rendering: one jinja2 Environment, and the render plan of a profile.

The plan lists, for each node, the files it gets (path, content, mode, owner, the command that
checks the file, the unit it belongs to) plus the services to enable and the URL that proves the
node reaches a ready apiserver through its load balancer. It also carries snippets for the
operator (kubeadm ClusterConfiguration, kubeconfig server address) that go on no node.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

from wizard.errors import KubehaError
from wizard.netaddr import host_port
from wizard.paths import TEMPLATES_DIR
from wizard.problems import Problem, errors_in
from wizard.profile import Profile
from wizard.validation import validate

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class RenderError(KubehaError):
    exit_code = 1


class InvalidProfile(RenderError):
    """:func:`build_plan` of a profile with errors: ``problems`` are every one of them."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class RenderedFile:
    """A file for one node. ``check`` is an argv in which ``{file}`` stands for the path of the
    uploaded temporary copy; ``service`` is the unit that must reload or restart when it
    changes (``restart`` when a reload is not enough, e.g. a unit file)."""

    path: str
    content: str
    template: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    check: tuple[str, ...] = ()
    service: str | None = None
    restart: bool = False
    kind: str = "file"  # "file", or "line" for one managed line in a shared file (/etc/hosts)
    data: bytes | None = None  # a binary file's bytes (``content`` then only describes it)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(
            self.data if self.data is not None else self.content.encode()
        ).hexdigest()


@dataclass(frozen=True)
class NodePlan:
    node: str
    role: str
    address: str
    files: tuple[RenderedFile, ...]
    services: tuple[str, ...]
    packages: tuple[str, ...]
    verify_url: str
    ports: tuple[tuple[str, int], ...] = ()  # (address, port) the node's load balancer binds
    cleanup: tuple[tuple[str, ...], ...] = ()  # argvs uninstall runs after stopping services
    # A shell script run on the node after /readyz answers through its load balancer, until it
    # exits 0 or verify times out: the LB holds every master it should (ipvs: every master that
    # answers is in the table). Its last output line says what is still missing.
    settle_check: str = ""


@dataclass(frozen=True)
class RenderPlan:
    profile: Profile
    nodes: tuple[NodePlan, ...]
    snippets: tuple[RenderedFile, ...] = field(default=())
    server_url: str = ""

    def for_node(self, name: str) -> NodePlan:
        for plan in self.nodes:
            if plan.node == name:
                return plan
        raise KeyError(name)


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise RenderError(f"refusing to render a value with a control character: {value!r}")
    return value


def _no_newlines(value: Any) -> Any:
    value = _finalize(value)
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise RenderError(f"refusing to render a value with a line break: {value!r}")
    return value


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_no_newlines,
    )
    env.filters["hostport"] = host_port
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = make_environment()
    return _ENV


def render_template(name: str, **context: Any) -> str:
    try:
        return environment().get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {exc}") from exc


def build_plan(profile: Profile) -> RenderPlan:
    """The render plan of a valid profile (validated here, once); a profile with errors raises
    InvalidProfile."""
    problems = errors_in(validate(profile))
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise InvalidProfile(f"profile {profile.name!r} is not valid:\n{lines}", problems)
    from wizard.strategies import strategy_for

    return strategy_for(profile.strategy).plan(profile)
