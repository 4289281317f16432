"""local-nginx's prepare step for install methods ``source`` and ``binary``: runs once, before
any node is touched, and gives the binary that every node gets as ``<prefix>/sbin/kube-nginx``.

What it does goes to the strategy hook's report (the engine shows it as run-level events of
phase ``build``); a failure raises :class:`~wizard.strategies.local_nginx.nginx_build.build.BuildFailed` and the engine
stops before any node changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pwd
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from wizard.errors import KubehaError
from wizard.plan import RenderedFile, RenderPlan
from wizard.profile import Profile
from wizard.strategies.base import Opener
from wizard.strategies.hooks import Report
from wizard.strategies.local_nginx.install import BUILD_HOSTS_LOCAL, TABLE, Install, InstallMethod
from wizard.strategies.local_nginx.layout import UNIT, layout
from wizard.strategies.local_nginx.nginx_build import cache
from wizard.strategies.local_nginx.nginx_build.build import (
    Binary,
    BuildFailed,
    build,
    configure_argv,
    toolchain,
)
from wizard.strategies.local_nginx.nginx_build.elf import NotAnExecutable, read_header, this_machine
from wizard.strategies.local_nginx.nginx_build.runner import LocalRunner, NodeRunner, Runner
from wizard.strategies.local_nginx.nginx_build.source import SourceError, fetch_source
from wizard.textsafe import shown_path

STATUS = ("ok", "info", "changed")  # the words build() reports with

# The node's own check of a staged kube-nginx: it must run and carry the stream module. It also
# makes <prefix>/logs, where nginx opens its default error log before it reads its config.
BINARY_CHECK = (
    'mkdir -p "$1" && out=$("$0" -V 2>&1) || { echo "$out"; exit 1; }; '
    'case "$out" in *--with-stream*) ;; '
    '*) echo "$out"; echo "no stream module (--with-stream) in this binary"; exit 1;; esac'
)


def binary_file(profile: Profile, data: bytes) -> RenderedFile:
    """``<prefix>/sbin/kube-nginx`` as a file of the plan, checked on the node before it is used."""
    where = layout(profile)
    return RenderedFile(
        where["binary"],
        f"kube-nginx binary, sha256 {hashlib.sha256(data).hexdigest()}",
        "(binary)",
        mode=0o755,
        check=("sh", "-c", BINARY_CHECK, "{file}", f"{where['prefix']}/logs"),
        service=UNIT,
        restart=True,
        data=data,
    )


def with_binary(plan: RenderPlan, profile: Profile, data: bytes) -> RenderPlan:
    """The plan with the binary first on every node (its check runs before the config's)."""
    item = binary_file(profile, data)
    nodes = tuple(
        dataclasses.replace(node, files=(item, *node.files)) if node.files else node
        for node in plan.nodes
    )
    return dataclasses.replace(plan, nodes=nodes)


# What the build's steps report: (status, message, output lines).
Step = Callable[[str, str, tuple[str, ...]], None]


def _steps(report: Report, began: float) -> Step:
    """build()'s three-argument report, with the progress and the time of each step."""

    def step(word: str, message: str, lines: tuple[str, ...]) -> None:
        status = word if word in STATUS else "info"
        duration = time.monotonic() - began if status == "ok" else None
        progress = 1.0 if status == "ok" else 0.5
        report(status, message, lines, progress=progress, duration=duration)

    return step


MAX_BINARY_BYTES = 256 * 1024 * 1024  # a static nginx is a few MB


def _read_binary(path: Path) -> bytes:
    """The file's bytes: a regular file of sane size only (never a FIFO or a device)."""
    where = f"install.binary_path: {shown_path(path)}"
    try:
        info = os.stat(path)
    except OSError as exc:
        raise BuildFailed(f"{where}: cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise BuildFailed(f"{where}: not a regular file; expected a kube-nginx binary")
    if info.st_size > MAX_BINARY_BYTES:
        raise BuildFailed(
            f"{where}: {info.st_size / 1e6:.0f} MB; expected a kube-nginx binary "
            f"(at most {MAX_BINARY_BYTES // 2**20} MiB)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildFailed(f"{where}: cannot read it: {exc.strerror}") from None


def _unprivileged() -> dict:
    """subprocess arguments that run a program as nobody when kubeha runs as root."""
    if os.geteuid() != 0:
        return {}
    try:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    except KeyError:
        uid = gid = 65534
    return {"user": uid, "group": gid, "extra_groups": []}


def check_here(path: Path, report: Step) -> None:
    """Run ``path -V`` on this machine (as nobody when root), said before it runs: it must show
    the stream module. A binary that cannot run here is left to each node's own check."""
    drop = _unprivileged()
    who = " as nobody" if drop else ""
    report("info", f"running {shown_path(path)} -V{who} to check the stream module", ())
    try:
        done = subprocess.run(
            [str(path), "-V"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            cwd="/",
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            **drop,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        report(
            "info", f"{shown_path(path)} did not run here{who} ({reason}); each node checks it", ()
        )
        return
    text = done.stdout + done.stderr
    if done.returncode != 0 or "--with-stream" not in text:
        raise BuildFailed(
            f"install.binary_path: {shown_path(path)} is not an nginx with the stream module "
            "(its -V shows no --with-stream)",
            tuple(line for line in text.splitlines() if line.strip())[-10:],
        )
    report("info", text.splitlines()[0] if text else "nginx -V ok", ())


def operator_binary(profile: Profile, report: Step, dry_run: bool = False) -> Binary:
    """Method binary: the operator's file, read and judged by its ELF header. Only a real apply
    runs it here (its -V, announced first, as nobody when root, and only when it is built for
    this machine); a dry run runs nothing. Every node checks it again before it is used."""
    path = Path(os.path.expanduser(profile.table(TABLE, Install).binary_path or ""))
    data = _read_binary(path)
    try:
        header = read_header(data[:64])
    except NotAnExecutable as exc:
        raise BuildFailed(f"install.binary_path: {shown_path(path)} is {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    here = this_machine()
    if dry_run:
        report("info", f"{shown_path(path)}: {header.describe()}; a dry run does not run it", ())
    elif not header.runs_on(here):
        report(
            "info",
            f"{shown_path(path)}: {header.describe()}, not for this machine ({here}): not run here; "
            "each node checks it (-V) before use",
            (),
        )
    else:
        check_here(path, report)
    report(
        "ok",
        f"operator's binary {shown_path(path)}: {header.describe()}, {len(data) / 1e6:.1f} MB, "
        f"sha256 {digest[:16]}…",
        (),
    )
    return Binary(data, digest, None)


def source_version(profile: Profile) -> str:
    """The version a source build names: the pinned package version, or the tarball's name."""
    install = profile.table(TABLE, Install)
    if install.source_package_version:
        return install.source_package_version
    return Path(install.source_tarball or "").name or "(no source named)"


def _dry_run_build(
    profile: Profile, step: Callable[[str, str, tuple[str, ...]], None], open_node: Opener | None
) -> Binary | None:
    """Method source in a dry run: nothing downloaded, nothing built. A binary already in the
    cache for the cached source is used (so the diffs show it); otherwise "would build". A
    problem a real run would stop on is said, and the dry run goes on to every node's diffs."""
    install = profile.table(TABLE, Install)
    host = install.build_host
    would = f"would build kube-nginx {source_version(profile)} from source on {host}"
    node = None
    runner: Runner | None = None
    try:
        source = fetch_source(install, cache.cache_dir(), download=False)
        if source is None:
            step(
                "info", f"{would} (its source is not downloaded yet: a dry run fetches nothing)", ()
            )
            return None
        if host == BUILD_HOSTS_LOCAL:
            runner = LocalRunner()
        else:
            assert open_node is not None, "a build on a node needs the engine's opener"
            node = open_node(host)()
            runner = NodeRunner(node, host)
        hit = cache.lookup(
            cache.build_key(source.sha256, configure_argv(install), toolchain(runner))
        )
        if hit is None:
            step("info", f"{would} (not in the cache)", ())
            return None
        step("ok", f"cached kube-nginx {hit[1].version} would be used", ())
        return Binary(hit[0], hit[1].sha256, hit[1], cached=True)
    except (KubehaError, OSError, RuntimeError) as exc:
        lines = getattr(exc, "lines", ())
        step("info", f"{would}; a real run would stop here: {exc}", tuple(lines))
        return None
    finally:
        if runner is not None:
            with contextlib.suppress(Exception):
                runner.cleanup()
        if node is not None:
            with contextlib.suppress(Exception):
                node.transport.close()


def build_binary(
    profile: Profile, report: Report, open_node: Opener | None, dry_run: bool = False
) -> Binary | None:
    """Build (or find, or read) the binary. None in a dry run that would have to build.
    ``open_node`` connects to a build host that is a node (the engine's opener)."""
    began = time.monotonic()
    step = _steps(report, began)
    install = profile.table(TABLE, Install)
    if install.method == InstallMethod.BINARY:
        where = shown_path(install.binary_path or "")
        report("started", f"checking {where}", progress=0.1)
        return operator_binary(profile, step, dry_run)
    host = install.build_host
    report("started", f"kube-nginx from source on {host}", progress=0.1)
    if dry_run:
        return _dry_run_build(profile, step, open_node)
    try:
        source = fetch_source(install, cache.cache_dir())
    except SourceError as exc:
        raise BuildFailed(str(exc), exc.lines) from None
    assert source is not None  # downloaded when not cached
    if not install.source_sha256:
        step(
            "info",
            f"source {source.label}: sha256 {source.sha256} (pin it: install.source_sha256)",
            (),
        )
    node = None
    runner: Runner | None = None
    try:
        if host == BUILD_HOSTS_LOCAL:
            runner = LocalRunner()
        else:
            try:
                assert open_node is not None, "a build on a node needs the engine's opener"
                node = open_node(host)()
            except (KubehaError, OSError) as exc:
                raise BuildFailed(f"cannot reach build host {host}: {exc}") from None
            runner = NodeRunner(node, host)
        return build(install, source, runner, step)
    except BuildFailed:
        raise
    except (KubehaError, OSError, RuntimeError) as exc:  # a lost connection, a full disk...
        raise BuildFailed(f"the build on {host} stopped: {exc}") from None
    finally:
        if runner is not None:
            with contextlib.suppress(Exception):
                runner.cleanup()
        if node is not None:
            with contextlib.suppress(Exception):
                node.transport.close()
