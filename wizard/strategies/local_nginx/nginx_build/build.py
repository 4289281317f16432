"""The build itself: toolchain, cache look-up, unpack, configure, make, check (``-v``, ``-V``
for the stream module, ``ldd``), hash, fetch back, cache. Every step reports through ``step``;
a failure raises :class:`BuildFailed` with the tail of the compiler's output."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from shlex import quote as q

from wizard.errors import PrepareFailed
from wizard.strategies.local_nginx.install import Install
from wizard.strategies.local_nginx.nginx_build import cache
from wizard.strategies.local_nginx.nginx_build.runner import Runner
from wizard.strategies.local_nginx.nginx_build.source import Source

# What "only the C library" means in ldd's output (glibc's own pieces and the kernel's vDSO).
LIBC_FAMILY = (
    "linux-vdso.so",
    "linux-gate.so",
    "ld-linux",
    "libc.so",
    "libm.so",
    "libpthread.so",
    "libdl.so",
    "librt.so",
    "libresolv.so",
)
TAIL = 25
LOG = "build.log"

Report = Callable[[str, str, tuple[str, ...]], None]  # (status word, message, lines)


class BuildFailed(PrepareFailed):
    """The kube-nginx build (or the operator's binary) failed: no node was touched."""


@dataclass(frozen=True)
class Binary:
    data: bytes
    sha256: str
    record: cache.BuildRecord | None  # None for an operator's binary
    cached: bool = False


def configure_argv(install: Install) -> list[str]:
    prefix = install.prefix.rstrip("/")
    return ["./configure", f"--prefix={prefix}", *install.configure_flags]


def extra_libraries(ldd_output: str) -> tuple[str, ...]:
    """Libraries in ``ldd``'s output beyond the C library's."""
    extra = []
    for line in ldd_output.splitlines():
        words = line.split()
        if not words or words[0].startswith("statically"):
            continue
        name = words[0].rsplit("/", 1)[-1]
        if not any(name.startswith(lib) for lib in LIBC_FAMILY):
            extra.append(name)
    return tuple(extra)


def toolchain(runner: Runner) -> str:
    result = runner.sh(
        "command -v cc >/dev/null && command -v make >/dev/null || { echo missing; exit 3; }; "
        "cc --version | head -n 1; make --version | head -n 1; uname -m; "
        "ldd --version 2>&1 | head -n 1",
        timeout=60,
    )
    if result.returncode == 3:
        raise BuildFailed(
            f"no C compiler or make on build host {runner.label}: install gcc, make and the C "
            "library headers (libc6-dev) there, or build on another host"
        )
    if not result.ok:
        raise BuildFailed(f"cannot ask {runner.label} for its toolchain", result.output_lines())
    return " | ".join(line.strip() for line in result.stdout.splitlines() if line.strip())


def _run_step(runner: Runner, name: str, script: str, timeout: float) -> None:
    """One step, its output appended to the build log; on failure, the log's tail."""
    work = q(runner.workdir)
    result = runner.sh(f"cd {work} && {{ {script} ; }} >> {LOG} 2>&1", timeout=timeout)
    if result.ok:
        return
    tail = runner.sh(f"tail -n {TAIL} {work}/{LOG}", timeout=30)
    lines = tuple(line for line in tail.stdout.splitlines() if line.strip()) or (
        result.output_lines(TAIL)
    )
    why = "timed out" if result.returncode == 124 else f"exit {result.returncode}"
    raise BuildFailed(f"{name} failed on {runner.label} ({why})", lines)


def build(
    install: Install, source: Source, runner: Runner, report: Report, *, use_cache: bool = True
) -> Binary:
    """Build kube-nginx from ``source`` on ``runner`` (or take it from the cache)."""
    argv = configure_argv(install)
    tools = toolchain(runner)
    key = cache.build_key(source.sha256, argv, tools)
    if use_cache:
        hit = cache.lookup(key)
        if hit is not None:
            data, record = hit
            report(
                "ok",
                f"cached kube-nginx {record.version} reused (sha256 {record.sha256[:16]}…)",
                (),
            )
            return Binary(data, record.sha256, record, cached=True)
    began = time.monotonic()
    work = q(runner.workdir)
    prepared = runner.sh(f"rm -rf {work} && mkdir -p {work} && chmod 755 {work}", timeout=60)
    if not prepared.ok:
        raise BuildFailed(
            f"cannot create {runner.workdir} on {runner.label}", prepared.output_lines()
        )
    try:
        report("info", f"sending {source.label} to {runner.label}", ())
        runner.put(source.tarball.read_bytes(), f"{runner.workdir}/source.tar")
        report("info", f"unpacking {source.label}", ())
        _run_step(
            runner,
            f"unpacking {source.label}",
            "mkdir src && tar -xf source.tar -C src && "
            "c=$(find src -maxdepth 2 -name configure -type f | head -n 1) && "
            '[ -n "$c" ] || { echo "no configure script in the tarball"; exit 1; }; '
            'ln -s "$(dirname "$c")" tree',
            300,
        )
        report("info", " ".join(argv), ())
        _run_step(runner, "configure", f"cd tree && {' '.join(q(a) for a in argv)}", 600)
        report("info", "make", ())
        _run_step(runner, "make", 'cd tree && make -j"$(nproc)"', 1800)
        checked = runner.sh(
            f"cd {work}/tree && objs/nginx -v 2>&1 && objs/nginx -V 2>&1 | grep -q -e --with-stream "
            "&& echo stream-ok; echo ---; ldd objs/nginx 2>&1; echo ---; sha256sum objs/nginx",
            timeout=60,
        )
        parts = checked.stdout.split("---\n")
        if len(parts) != 3 or "stream-ok" not in parts[0]:
            raise BuildFailed(
                f"the built nginx does not run, or has no stream module, on {runner.label}",
                checked.output_lines(),
            )
        version = parts[0].splitlines()[0].split("/", 1)[-1].strip()
        ldd = tuple(line.strip() for line in parts[1].splitlines() if line.strip())
        reported_sha = parts[2].split()[0] if parts[2].split() else ""
        data = runner.fetch(f"{runner.workdir}/tree/objs/nginx")
    finally:
        runner.cleanup()
    digest = hashlib.sha256(data).hexdigest()
    if digest != reported_sha:
        raise BuildFailed(
            f"the binary fetched from {runner.label} has sha256 {digest}, not {reported_sha}"
        )
    extra = extra_libraries("\n".join(ldd))
    record = cache.BuildRecord(
        key=key,
        sha256=digest,
        size=len(data),
        version=version,
        build_host=runner.label,
        source=source.label,
        source_sha256=source.sha256,
        configure=tuple(argv),
        toolchain=tools,
        ldd=ldd,
        extra_libraries=extra,
        seconds=round(time.monotonic() - began, 1),
    )
    cache.store(data, record)
    if extra:
        report(
            "info",
            f"ldd: links libraries beyond the C library's ({', '.join(extra)}): every node needs them",
            ldd,
        )
    else:
        report("info", "ldd: only the C library", ldd)
    report(
        "ok",
        f"built kube-nginx {version} on {runner.label} in {record.seconds:.0f} s: "
        f"{len(data) / 1e6:.1f} MB, sha256 {digest[:16]}…",
        (),
    )
    return Binary(data, digest, record)
