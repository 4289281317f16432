"""Real Kubernetes binaries for the lab, built once from Debian's source package and cached.

Debian bookworm's ``kubernetes`` source (1.20.2, with vendor/ and staging/) is fetched with
``apt-get source`` and built with Debian's ``golang-1.19-go`` in GOPATH mode (module mode fails on
the vendored go.mod): ``GO111MODULE=off``, a GOPATH whose ``src/k8s.io/kubernetes`` links to the
tree, ``CGO_ENABLED=0``. The tarball lacks the generated OpenAPI code, so the source's own
``make gen_openapi`` runs first. kube-apiserver, kube-controller-manager, kube-scheduler,
kube-proxy and kubectl are built in one ``go build`` with the version the source's
hack/lib/version.sh stamps (v1.20.2, not v0.0.0-master).

The result lives in ``/var/cache/kubeha/kube-<key>/bin`` where the key hashes the source files'
sha256 (as apt lists and verifies them), the Go version and this recipe. A tree counts only with
its stamp (written last, before the rename into place); a file lock keeps two builds apart. With
the cache present :func:`ensure_kube` takes well under a second. etcd comes from Debian's
``etcd-server`` (installed here too, with a policy-rc.d that keeps it from starting on the host).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wizard.lab.constants import CACHE_DIR
from wizard.lab.errors import LabError
from wizard.lab.lock import file_lock
from wizard.lab.system import run

SOURCE_PACKAGE = "kubernetes"
# The version whose files the mirrors serve (pinned: an update may name files not there yet).
SOURCE_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
GO_BIN = Path("/usr/lib/go-1.19/bin/go")
# Debian package -> a file that shows it is installed.
HOST_DEBS = {
    "golang-1.19-go": str(GO_BIN),
    "rsync": "/usr/bin/rsync",  # make gen_openapi copies with it
    "make": "/usr/bin/make",
    "jq": "/usr/bin/jq",  # in the source package's Build-Depends (its hack/ scripts use it)
    "dpkg-dev": "/usr/bin/dpkg-source",  # apt-get source unpacks with it
    "etcd-server": "/usr/bin/etcd",
    "etcd-client": "/usr/bin/etcdctl",
}
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubectl",
)
ETCD_BINARIES = (Path("/usr/bin/etcd"), Path("/usr/bin/etcdctl"))
RECIPE_VERSION = "1"  # bump when the build steps or flags change
STAMP = ".kubeha-kube-stamp"
TIMES_FILE = "build-times.json"
LOCK_FILE = CACHE_DIR / "kube.lock"
# Go's build cache, kept so a recipe change rebuilds in minutes, not twenty.
GO_CACHE = CACHE_DIR / "kube-gocache"
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/kubeha-deb-src.sources")
BUILD_TIMEOUT = 3 * 3600


@dataclass(frozen=True)
class KubeBinaries:
    """A complete cached build: its folder and the times its build took (seconds)."""

    path: Path
    version: str
    times: dict[str, float]
    built_now: bool

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"


def _debs_missing() -> list[str]:
    return [pkg for pkg, probe in HOST_DEBS.items() if not Path(probe).exists()]


def ensure_host_debs(log: Callable[[str], None] = print) -> None:
    """apt-get install Go, rsync, etcd and what ``apt-get source`` needs; start nothing."""
    missing = _debs_missing()
    if not missing:
        return
    log(f"installing {' '.join(missing)} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:  # etcd-server's postinst would start etcd on this machine otherwise
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        run(["apt-get", "update", "-q"], timeout=600, env=env)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            timeout=1800,
            env=env,
        )
    finally:
        if created:
            policy.unlink(missing_ok=True)


def _ensure_deb_src(log: Callable[[str], None]) -> None:
    """``apt-get source`` needs deb-src entries: the host's mirrors, as kubeha's own file."""
    lists = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for file in lists:
        with contextlib.suppress(OSError):
            for line in file.read_text(errors="replace").splitlines():
                words = line.split()
                if words[:1] == ["deb-src"] or (words[:1] == ["Types:"] and "deb-src" in words[1:]):
                    return
    debian = Path("/etc/apt/sources.list.d/debian.sources")
    if not debian.is_file():
        raise LabError(
            "apt has no deb-src entries and no /etc/apt/sources.list.d/debian.sources to copy: "
            "add a deb-src line for bookworm (scripts/bootstrap does) and run again"
        )
    log(f"adding deb-src entries ({DEB_SRC_FILE}) for apt-get source")
    text = "\n".join(
        "Types: deb-src" if line.strip() == "Types: deb" else line
        for line in debian.read_text().splitlines()
    )
    DEB_SRC_FILE.write_text(text + "\n")
    run(["apt-get", "update", "-q"], timeout=600)


def source_checksums() -> dict[str, str]:
    """The pinned source package's files and their sha256, as apt lists them (file -> sha)."""
    proc = run(["apt-cache", "showsrc", SOURCE_PACKAGE], check=False)
    for stanza in proc.stdout.split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = ""
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current].append(line.strip())
            elif ":" in line:
                current, _, value = line.partition(":")
                fields[current] = [value.strip()] if value.strip() else []
        if fields.get("Version") == [SOURCE_VERSION]:
            sums = {}
            for entry in fields.get("Checksums-Sha256", []):
                sha, _size, name = entry.split()
                sums[name] = sha
            if sums:
                return sums
    raise LabError(
        f"apt does not know the source package {SOURCE_PACKAGE}={SOURCE_VERSION}: "
        "it needs bookworm deb-src entries and `apt-get update`"
    )


def go_version() -> str:
    """``go1.19.8``: the Go that builds (part of the cache key)."""
    return run([str(GO_BIN), "env", "GOVERSION"]).stdout.strip()


def cache_key(checksums: dict[str, str], go: str) -> str:
    """12 hex digits naming a build of these source files with this Go and recipe."""
    text = "\n".join([RECIPE_VERSION, go, *(f"{n} {s}" for n, s in sorted(checksums.items()))])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def kube_path(key: str) -> Path:
    return CACHE_DIR / f"kube-{key}"


def is_complete(path: Path, key: str) -> bool:
    """True when the folder carries the key's stamp and every binary."""
    try:
        if (path / STAMP).read_text().strip() != key:
            return False
    except OSError:
        return False
    return all(os.access(path / "bin" / b, os.X_OK) for b in BINARIES)


def _read_cached(path: Path) -> KubeBinaries:
    try:
        times = json.loads((path / TIMES_FILE).read_text())
    except (OSError, ValueError):
        times = {}
    version = (path / "VERSION").read_text().strip() if (path / "VERSION").exists() else "?"
    return KubeBinaries(path=path, version=version, times=times, built_now=False)


def cached() -> KubeBinaries | None:
    """The complete cached build for the pinned source and installed Go, or None (no build)."""
    if _debs_missing():
        return None
    try:
        key = cache_key(source_checksums(), go_version())
    except LabError:
        return None
    path = kube_path(key)
    return _read_cached(path) if is_complete(path, key) else None


def ensure_kube(log: Callable[[str], None] = print) -> KubeBinaries:
    """Return the cached binaries, building them first if needed (locked, atomic)."""
    ensure_host_debs(log)
    _ensure_deb_src(log)
    key = cache_key(source_checksums(), go_version())
    path = kube_path(key)
    if is_complete(path, key):
        return _read_cached(path)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with file_lock(LOCK_FILE):  # another build may be running right now
        if is_complete(path, key):
            return _read_cached(path)
        if path.exists():
            log(f"cached Kubernetes build {path} is broken: rebuilding")
            shutil.rmtree(path)
        _remove_stale_builds(key)
        work = CACHE_DIR / f".kube-{key}.build-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log(
            f"building Kubernetes {SOURCE_VERSION} with {go_version()} into {path} "
            f"(a fresh machine takes 15-25 min; log: {work / 'build.log'})"
        )
        times, version = _build_into(work, path, key, _build, log)
        return KubeBinaries(path=path, version=version, times=times, built_now=True)


# --- the kubeadm lab's additions: kubelet, kubeadm and the pause binary -------------------------
# A second cache entry beside the first (never a change to it: the five binaries' key and
# folder stay as they are), built from the same pinned source with the same Go build cache.
NODE_BINARIES = ("kubelet", "kubeadm")
PAUSE_BINARY = "pause"  # the source's build/pause/linux/pause.c, compiled static with gcc
# The source's build/pause/Makefile: TAG = 3.4, CFLAGS = -Os -Wall -Werror -static.
PAUSE_TAG = "3.4"
NODE_RECIPE_VERSION = "2"  # bump when the kubeadm step's build changes
# The source vendors modern-go/reflect2 1.0.1, which crashes under Go 1.18 and later (a nil
# dereference in reflect2.Type2 when json-iterator meets a map: `kubeadm init` died in its
# kubelet-start phase, `kubeadm config print init-defaults` too). Its 1.0.2 fixes that for
# newer Go; Debian packages it, and this step builds with it in the vendor folder's place.
REFLECT2_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
NODE_HOST_DEBS = {
    "gcc": "/usr/bin/gcc",
    "libc6-dev": "/usr/lib/x86_64-linux-gnu/libc.a",
    "golang-github-modern-go-reflect2-dev": str(REFLECT2_SOURCE / "go_above_118.go"),
}


def node_key(key: str) -> str:
    """The kubeadm step's cache key: the main build's key and this step's recipe."""
    text = f"{key}\nkubeadm {NODE_RECIPE_VERSION} {' '.join(NODE_BINARIES)} pause {PAUSE_TAG}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def node_path(key: str) -> Path:
    return CACHE_DIR / f"kubeadm-{node_key(key)}"


def _node_complete(path: Path, key: str) -> bool:
    try:
        if (path / STAMP).read_text().strip() != node_key(key):
            return False
    except OSError:
        return False
    return all(os.access(path / "bin" / b, os.X_OK) for b in (*NODE_BINARIES, PAUSE_BINARY))


def cached_node() -> KubeBinaries | None:
    """The complete kubeadm-step build for the pinned source and installed Go, or None."""
    main = cached()
    if main is None:
        return None
    key = main.path.name.removeprefix("kube-")
    path = node_path(key)
    return _read_cached(path) if _node_complete(path, key) else None


def ensure_node_binaries(log: Callable[[str], None] = print) -> KubeBinaries:
    """kubelet, kubeadm and pause for the kubeadm lab, built once (after :func:`ensure_kube`,
    whose Go build cache makes this step a minute or two) into ``kubeadm-<key>/bin``."""
    main = ensure_kube(log)
    key = main.path.name.removeprefix("kube-")
    path = node_path(key)
    if _node_complete(path, key):
        return _read_cached(path)
    missing = [pkg for pkg, probe in NODE_HOST_DEBS.items() if not Path(probe).exists()]
    if missing:
        log(f"installing {' '.join(missing)} (apt-get) to compile the pause binary")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    with file_lock(LOCK_FILE):  # another build may be running right now
        if _node_complete(path, key):
            return _read_cached(path)
        shutil.rmtree(path, ignore_errors=True)
        for entry in CACHE_DIR.iterdir():  # older kubeadm-step builds nothing mounts
            old = entry.name.startswith("kubeadm-") and entry.name != path.name
            half = entry.name.startswith(".kubeadm-") and ".build-" in entry.name
            if (old or half) and entry.is_dir() and not _mounted(entry):
                shutil.rmtree(entry, ignore_errors=True)
        work = CACHE_DIR / f".kubeadm-{node_key(key)}.build-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log(f"building kubelet, kubeadm and pause into {path} (log: {work / 'build.log'})")
        times, _ = _build_into(
            work, path, node_key(key), lambda w, lg: (_build_node(w, lg), main.version), log
        )
        return KubeBinaries(path=path, version=main.version, times=times, built_now=True)


def _mounted(path: Path) -> bool:
    from wizard.lab.state import read_state

    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    state = read_state()
    if state is not None:
        mounts += "\n" + getattr(state, "kubeadm_bin", "")
    return str(path) in mounts


def _build_node(work: Path, log: Callable[[str], None]) -> dict[str, float]:
    times: dict[str, float] = {}
    started = time.monotonic()
    tree, env = _prepare_source(work, times, log)
    vendored = tree / "vendor/github.com/modern-go/reflect2"
    shutil.rmtree(vendored)
    shutil.copytree(REFLECT2_SOURCE, vendored)
    out_bin = work / "out/bin"
    out_bin.mkdir(parents=True)
    times["build"] = _go_build(
        tree, env, _version_ldflags(tree, env), out_bin, NODE_BINARIES, work / "build.log"
    )
    log(f"  {', '.join(NODE_BINARIES)} built in {times['build']:.0f} s")
    pause_started = time.monotonic()
    _step(
        [
            "gcc",
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION=v{PAUSE_TAG}-debian-{SOURCE_VERSION}",
            "-o",
            str(out_bin / PAUSE_BINARY),
            str(tree / "build/pause/linux/pause.c"),
        ],
        tree,
        env,
        work / "build.log",
    )
    times["pause"] = time.monotonic() - pause_started
    kubeadm = run([str(out_bin / "kubeadm"), "version", "-o", "short"], check=False)
    if kubeadm.returncode != 0 or not kubeadm.stdout.strip().startswith("v1."):
        raise LabError(f"the built kubeadm reports {kubeadm.stdout.strip()!r}")
    times["total"] = time.monotonic() - started
    return times


def _keep_log(work: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copy(work / "build.log", CACHE_DIR / "kube-build-failed.log")


def _remove_stale_builds(key: str) -> None:
    """Half-built folders and builds of other keys (old recipes) that nothing mounts."""
    from wizard.lab.state import read_state

    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    state = read_state()  # a real lab's nodes bind-mount its build (not in this mountinfo)
    if state is not None and state.kube_bin:
        mounts += "\n" + state.kube_bin
    for entry in CACHE_DIR.iterdir():
        half_built = entry.name.startswith(".kube-") and ".build-" in entry.name
        old = entry.name.startswith("kube-") and entry.name not in (f"kube-{key}", GO_CACHE.name)
        if (half_built or old) and entry.is_dir() and str(entry) not in mounts:
            shutil.rmtree(entry, ignore_errors=True)


def _build_env(gopath: Path, home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_")) and k != "KUBE_ROOT"
    }
    env.update(
        PATH=f"{GO_BIN.parent}:{env.get('PATH', '/usr/bin:/bin')}",
        GOPATH=str(gopath),
        GO111MODULE="off",
        CGO_ENABLED="0",
        GOCACHE=str(GO_CACHE),
        GOFLAGS="",
        HOME=str(home),
        LC_ALL="C",
    )
    return env


def _step(argv: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> float:
    """Run one build step niced, its output appended to the build log; seconds taken."""
    started = time.monotonic()
    with open(log_file, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(
                ["nice", "-n", "10", *argv],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{argv[0]} did not finish within {BUILD_TIMEOUT} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise LabError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{tail}")
    return time.monotonic() - started


def _build(work: Path, log: Callable[[str], None]) -> tuple[dict[str, float], str]:
    """Download, generate, build into ``work/out/bin``; (times, version)."""
    times: dict[str, float] = {}
    build_log = work / "build.log"
    started = time.monotonic()
    tree, env = _prepare_source(work, times, log)
    ldflags = _version_ldflags(tree, env)
    out_bin = work / "out/bin"
    out_bin.mkdir(parents=True)
    build_started = time.time()
    times["build"] = _go_build(tree, env, ldflags, out_bin, BINARIES, build_log)
    log(f"  {', '.join(BINARIES)} built in {times['build']:.0f} s")
    for binary in BINARIES:  # one go build links each as soon as its packages are compiled
        times[f"{binary} linked after"] = (out_bin / binary).stat().st_mtime - build_started
    version = _check_version(out_bin / "kubectl")
    times["total"] = time.monotonic() - started
    return times, version


def _go_build(
    tree: Path, env: dict[str, str], ldflags: str, out_bin: Path, binaries, build_log: Path
) -> float:
    """One ``go build`` of ``cmd/<binary>`` for each binary into ``out_bin``; seconds taken."""
    return _step(
        [
            str(GO_BIN),
            "build",
            "-trimpath",
            "-ldflags",
            f"{ldflags} -s -w",
            "-o",
            f"{out_bin}/",
            *(f"k8s.io/kubernetes/cmd/{b}" for b in binaries),
        ],
        tree,
        env,
        build_log,
    )


def _prepare_source(
    work: Path, times: dict[str, float], log: Callable[[str], None]
) -> tuple[Path, dict[str, str]]:
    """Download and unpack the pinned source under ``work``, generate its OpenAPI code;
    (the tree in its GOPATH, the build environment)."""
    build_log = work / "build.log"
    src = work / "src"
    src.mkdir()
    times["download"] = _step(
        ["apt-get", "source", "-q", f"{SOURCE_PACKAGE}={SOURCE_VERSION}"],
        src,
        {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        build_log,
    )
    trees = [p for p in src.iterdir() if p.is_dir() and p.name.startswith(f"{SOURCE_PACKAGE}-")]
    if len(trees) != 1:
        raise LabError(f"apt-get source left {len(trees)} source trees in {src}")
    log(f"  source downloaded and unpacked in {times['download']:.0f} s")
    gopath = work / "gopath"
    (gopath / "src/k8s.io").mkdir(parents=True)
    tree = gopath / "src/k8s.io/kubernetes"
    tree.symlink_to(trees[0])
    env = _build_env(gopath, work)
    # Only the OpenAPI code is missing from the tarball (the deep-copy and conversion code ships).
    times["generate"] = _step(["make", "gen_openapi"], tree, env, build_log)
    log(f"  OpenAPI code generated in {times['generate']:.0f} s")
    return tree, env


def _version_ldflags(tree: Path, env: dict[str, str]) -> str:
    """The -X flags of the source's own hack/lib/version.sh (its archive tag: v1.20.2)."""
    script = (
        'KUBE_ROOT="$PWD"; KUBE_GO_PACKAGE=k8s.io/kubernetes; '
        "source hack/lib/version.sh; kube::version::ldflags"
    )
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tree, env=env, capture_output=True, text=True, timeout=60
    )
    flags = proc.stdout.strip()
    if proc.returncode != 0 or "gitVersion=v" not in flags:
        raise LabError(f"hack/lib/version.sh gave no version ({proc.stderr.strip()[-300:]})")
    return flags


def _check_version(kubectl: Path) -> str:
    proc = run([str(kubectl), "version", "--client", "--short"], check=False)
    text = proc.stdout.strip()
    version = text.rpartition(":")[2].strip()
    if proc.returncode != 0 or not version.startswith("v1.") or "0.0.0" in version:
        raise LabError(f"the built kubectl reports {text!r}, not a v1.x release version")
    return version


def _times_line(times: dict[str, float]) -> str:
    parts = [f"{k} {v:.0f} s" for k, v in times.items() if k in ("download", "generate", "build")]
    return f"Kubernetes built in {times.get('total', 0):.0f} s ({', '.join(parts)})"


def _build_into(
    work: Path,
    path: Path,
    stamp: str,
    build: Callable[[Path, Callable[[str], None]], tuple[dict[str, float], str]],
    log: Callable[[str], None],
) -> tuple[dict[str, float], str]:
    """Run ``build`` in ``work`` and move its ``out`` folder to ``path`` whole, with its version,
    its times and ``stamp``; a failed build keeps its log, leaves nothing half-made, and raises."""
    try:
        times, version = build(work, log)
        out = work / "out"
        (out / "VERSION").write_text(version + "\n")
        (out / TIMES_FILE).write_text(json.dumps(times, indent=1) + "\n")
        (out / STAMP).write_text(stamp + "\n")
        os.rename(out, path)
    except BaseException:
        log(f"the build failed; its log: {work / 'build.log'}")
        _keep_log(work)
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    log(_times_line(times))
    return times, version


def main(argv: list[str] | None = None) -> int:
    """``python -m wizard.lab.kube_build``: build (or find) the cached binaries, print times."""
    parser = argparse.ArgumentParser(prog="python -m wizard.lab.kube_build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether the cache is there")
    parser.add_argument(
        "--kubeadm",
        action="store_true",
        help="also kubelet, kubeadm and pause for `lab up --control-plane kubeadm` (a second "
        "cache entry; the five binaries' entry is left as it is)",
    )
    args = parser.parse_args(argv)
    if args.check:
        found = cached_node() if args.kubeadm else cached()
        print(found.bin_dir if found else "no cached Kubernetes build")
        return 0 if found else 1
    if os.geteuid() != 0:
        print("building the lab's Kubernetes needs root (apt-get, /var/cache/kubeha)")
        return 2
    started = time.monotonic()
    try:
        say = lambda line: print(line, flush=True)  # noqa: E731
        kube = ensure_node_binaries(say) if args.kubeadm else ensure_kube(say)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    if kube.built_now:
        print(f"Kubernetes {kube.version} built and cached in {took:.0f} s: {kube.bin_dir}")
    else:
        print(f"Kubernetes {kube.version} cached ({took:.1f} s to find): {kube.bin_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
