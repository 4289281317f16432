"""The engine's build phase for install methods ``source`` and ``binary``: runs once, before any
node is touched, and gives the binary that every node gets as ``<prefix>/sbin/kube-nginx``.

Events go out as run-level events (node None) of phase ``build``; a failure raises
:class:`~wizard.nginx_build.build.BuildFailed` and the engine stops before any node changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from wizard.engine.events import Event, Status
from wizard.engine.remote import RemoteNode
from wizard.errors import KubehaError
from wizard.nginx_build import cache
from wizard.nginx_build.build import Binary, BuildFailed, build, configure_argv, toolchain
from wizard.nginx_build.runner import LocalRunner, NodeRunner, Runner
from wizard.nginx_build.source import SourceError, fetch_source
from wizard.profile import BUILD_HOSTS_LOCAL, Profile
from wizard.render import RenderedFile, RenderPlan
from wizard.strategies.local_nginx import UNIT, layout

PHASE = "build"
STATUS = {"ok": Status.OK, "info": Status.INFO, "changed": Status.CHANGED}

# The node's own check of a staged kube-nginx: it must run and carry the stream module. It also
# makes <prefix>/logs, where nginx opens its default error log before it reads its config.
BINARY_CHECK = (
    'mkdir -p "$1" && out=$("$0" -V 2>&1) || { echo "$out"; exit 1; }; '
    'case "$out" in *--with-stream*) ;; '
    '*) echo "$out"; echo "no stream module (--with-stream) in this binary"; exit 1;; esac'
)


def needs_binary(profile: Profile) -> bool:
    return profile.strategy == "local-nginx" and profile.install.method in ("source", "binary")


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


def _emit_for(emit: Callable[[Event], None], began: float):
    def report(word: str, message: str, lines: tuple[str, ...]) -> None:
        status = STATUS.get(word, Status.INFO)
        duration = time.monotonic() - began if status is Status.OK else None
        progress = 1.0 if status is Status.OK else 0.5
        emit(Event(None, PHASE, status, message, lines, duration, progress))

    return report


def operator_binary(profile: Profile, report) -> Binary:
    """Method binary: the operator's file, checked here with -V when it runs on this machine
    (every node checks it again before it is used)."""
    path = Path(os.path.expanduser(profile.install.binary_path or ""))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BuildFailed(f"install.binary_path: cannot read {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        done = subprocess.run([str(path), "-V"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        report("info", f"{path} does not run here ({exc}); each node checks it before use", ())
    else:
        text = done.stdout + done.stderr
        if done.returncode != 0 or "--with-stream" not in text:
            raise BuildFailed(
                f"install.binary_path: {path} is not an nginx with the stream module "
                "(its -V shows no --with-stream)",
                tuple(line for line in text.splitlines() if line.strip())[-10:],
            )
        report("info", text.splitlines()[0] if text else "nginx -V ok", ())
    report("ok", f"operator's binary {path}: {len(data) / 1e6:.1f} MB, sha256 {digest[:16]}…", ())
    return Binary(data, digest, None)


def prepare(
    profile: Profile,
    emit: Callable[[Event], None],
    open_node: Callable[[str], Callable[[], RemoteNode]],
    dry_run: bool = False,
) -> Binary | None:
    """Build (or find, or read) the binary. None in a dry run that would have to build."""
    began = time.monotonic()
    report = _emit_for(emit, began)
    install = profile.install
    if install.method == "binary":
        emit(Event(None, PHASE, Status.STARTED, f"checking {install.binary_path}", progress=0.1))
        return operator_binary(profile, report)
    host = install.build_host
    emit(Event(None, PHASE, Status.STARTED, f"kube-nginx from source on {host}", progress=0.1))
    try:
        source = fetch_source(install, cache.cache_dir())
    except SourceError as exc:
        raise BuildFailed(str(exc), exc.lines) from None
    if not install.source_sha256:
        report(
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
                node = open_node(host)()
            except (KubehaError, OSError) as exc:
                raise BuildFailed(f"cannot reach build host {host}: {exc}") from None
            runner = NodeRunner(node, host)
        if dry_run:
            hit = cache.lookup(
                cache.build_key(source.sha256, configure_argv(install), toolchain(runner))
            )
            if hit is None:
                report("info", f"would build kube-nginx on {host} (not in the cache)", ())
                return None
            report("ok", f"cached kube-nginx {hit[1].version} would be used", ())
            return Binary(hit[0], hit[1].sha256, hit[1], cached=True)
        return build(install, source, runner, report)
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
