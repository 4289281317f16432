"""built-proxy's ``[built_install]`` table: how its binary gets on the node, and its checks
(as local-nginx's ``[install]``)."""

from __future__ import annotations

from dataclasses import dataclass

from wizard.problems import Problem, error
from wizard.profile import Profile
from wizard.strategies.fields import described

TABLE = "built_install"


@dataclass(frozen=True)
class BuiltInstall:
    method: str = described(
        "build", "Install method", "build or package", choices=("build", "package")
    )
    version: str = described("1.0", "Version", "what to build")
    flags: str = described("", "Build flags", "the build's flags")


def check_built_install(install: BuiltInstall, profile: Profile) -> list[Problem]:
    problems: list[Problem] = []
    if install.method not in ("build", "package"):
        problems.append(error(f"{TABLE}.method", install.method, "expected build or package"))
    if not install.version[:1].isdigit():
        problems.append(error(f"{TABLE}.version", install.version, "expected a version"))
    return problems
