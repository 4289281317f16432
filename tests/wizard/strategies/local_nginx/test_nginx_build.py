"""The kube-nginx build pieces without a lab: ldd parsing, the cache key and its integrity, the
source checks, and a whole local build of a tiny stand-in source through the real pipeline."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

import pytest

from tests.support.examples import example_profile, section
from wizard.engine.events import Status
from wizard.engine.hook_events import reporter
from wizard.render import build_plan
from wizard.strategies.local_nginx import STRATEGY as LOCAL_NGINX
from wizard.strategies.local_nginx.install import Install
from wizard.strategies.local_nginx.nginx_build import cache
from wizard.strategies.local_nginx.nginx_build.build import BuildFailed, extra_libraries
from wizard.strategies.local_nginx.nginx_build.phase import binary_file, build_binary, with_binary
from wizard.strategies.local_nginx.nginx_build.source import SourceError, fetch_source

# A stand-in for nginx's source: its configure writes a Makefile that compiles a program
# answering -v and -V the way nginx does.
PROGRAM = rb"""#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) { fprintf(stderr, "nginx version: nginx/0.0.1\n"); return 0; }
    if (argc > 1 && strcmp(argv[1], "-V") == 0) { fprintf(stderr, "nginx version: nginx/0.0.1\nconfigure arguments: %s\n", FLAGS); return 0; }
    return 1;
}
"""
CONFIGURE = b"""#!/bin/sh
mkdir -p objs
printf 'all:\\n\\tcc -DFLAGS="\\\\"%s\\\\"" -o objs/nginx src/main.c\\n' "$*" > Makefile
"""


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBEHA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def source_profile(path, **install):
    profile = example_profile("local-nginx")
    changes = {"method": "source", "source_tarball": str(path), **install}
    return dataclasses.replace(
        profile,
        tables={
            **profile.tables,
            "install": dataclasses.replace(section(profile, "install"), **changes),
        },
    )


def test_ldd_beyond_the_c_library_is_reported():
    only_libc = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x2)\n"
    )
    assert extra_libraries(only_libc) == ()
    with_ssl = only_libc + "\tlibssl.so.3 => /lib/libssl.so.3 (0x3)\n\tlibcrypt.so.1 => x (0x4)\n"
    assert extra_libraries(with_ssl) == ("libssl.so.3", "libcrypt.so.1")
    assert extra_libraries("\tstatically linked\n") == ()


def test_the_cache_key_follows_source_flags_and_toolchain():
    key = cache.build_key("a" * 64, ["./configure", "--with-stream"], "gcc 12")
    assert key == cache.build_key("a" * 64, ["./configure", "--with-stream"], "gcc 12")
    assert key != cache.build_key("b" * 64, ["./configure", "--with-stream"], "gcc 12")
    assert key != cache.build_key("a" * 64, ["./configure", "--without-http"], "gcc 12")
    assert key != cache.build_key("a" * 64, ["./configure", "--with-stream"], "gcc 13")


def test_a_source_tarball_with_another_hash_is_refused(tmp_path):
    path = tmp_path / "nginx.tar.gz"
    path.write_bytes(b"not the pinned one")
    install = Install(method="source", source_tarball=str(path), source_sha256="0" * 64)
    with pytest.raises(SourceError, match="refusing to build from it"):
        fetch_source(install, tmp_path)
    missing = Install(method="source", source_tarball=str(tmp_path / "absent.tar.gz"))
    with pytest.raises(SourceError, match="is not a file"):
        fetch_source(missing, tmp_path)


def test_a_whole_local_build_is_checked_cached_and_reused(tmp_path, cache_home):
    path = tmp_path / "fake-nginx.tar.gz"
    path.write_bytes(tarball({"fake-1/configure": CONFIGURE, "fake-1/src/main.c": PROGRAM}))
    profile = source_profile(path, source_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    events = []
    binary = build_binary(profile, reporter(events.append, "build"), None)
    assert binary is not None and not binary.cached
    assert binary.record.version == "0.0.1" and binary.record.extra_libraries == ()
    assert binary.record.configure[1] == "--prefix=/opt/kube-nginx"
    assert (
        events[-1].status is Status.OK and "built kube-nginx 0.0.1 on local" in events[-1].message
    )
    again = []
    cached = build_binary(profile, reporter(again.append, "build"), None)
    assert cached.cached and cached.sha256 == binary.sha256
    assert "cached kube-nginx 0.0.1 reused" in again[-1].message
    # a cached binary that no longer matches its record is not used
    folder = cache_home / "builds" / binary.record.key
    (folder / "kube-nginx").write_bytes(b"tampered")
    assert cache.lookup(binary.record.key) is None


def test_a_build_that_does_not_compile_shows_the_compiler_output(tmp_path, cache_home):
    path = tmp_path / "broken.tar.gz"
    broken = PROGRAM.replace(b"return 1;", b"return not_declared;")
    path.write_bytes(tarball({"fake-1/configure": CONFIGURE, "fake-1/src/main.c": broken}))
    with pytest.raises(BuildFailed, match="make failed on local") as caught:
        build_binary(source_profile(path), reporter(lambda e: None, "build"), None)
    assert any("not_declared" in line for line in caught.value.lines)


def test_the_binary_goes_first_on_every_node_and_is_checked_there(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"")
    profile = source_profile(tmp_path / "x.tar.gz")
    assert LOCAL_NGINX.needs_prepare(profile)
    plan = with_binary(build_plan(profile), profile, b"\x7fELF binary")
    for node in plan.nodes:
        first = node.files[0]
        assert first.path == "/opt/kube-nginx/sbin/kube-nginx" and first.mode == 0o755
        assert first.data == b"\x7fELF binary" and first.restart
        assert first.check[-1] == "/opt/kube-nginx/logs"
    assert binary_file(profile, b"x").sha256 == hashlib.sha256(b"x").hexdigest()
    assert not LOCAL_NGINX.needs_prepare(example_profile("local-nginx"))
