"""Templates: one jinja2 Environment with ``StrictUndefined``, ``trim_blocks``, ``lstrip_blocks``
and ``keep_trailing_newline``, whose ``finalize`` refuses control characters and line breaks (a
second net behind validation). jinja2 is imported on the first render, not with this module:
the wizard's first screen never pays for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wizard.errors import KubehaError
from wizard.netaddr import bare, host_port, https_url, url_host
from wizard.paths import TEMPLATES_DIR

if TYPE_CHECKING:
    import jinja2

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class RenderError(KubehaError):
    exit_code = 1


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
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_no_newlines,
    )
    # Addresses are formatted by wizard.netaddr only: brackets for IPv6 where a port, a URL or
    # an ss filter needs them, the bare compressed form elsewhere.
    env.filters["hostport"] = host_port
    env.filters["urlhost"] = url_host
    env.filters["httpsurl"] = https_url
    env.filters["bare"] = bare
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = make_environment()
    return _ENV


def render_template(name: str, **context: Any) -> str:
    import jinja2  # the module's name for the except clause (loaded already by environment())

    try:
        return environment().get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {exc}") from exc
