"""kube-nginx built from Debian's nginx source package, as the seed guides do, and shipped to
every lab node: build locally and on a node, apply with method source, verify through every
node, re-apply from the cache, method binary, and broken sources that stop before any node.

The tests run in order and build on each other (one lab, one build cache for the module).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.support.labkit import Recorder, active_since, apply, lab_profile, uninstall, with_section
from tests.support.loadloop import loops_on
from wizard.cli import main
from wizard.engine.connector import SshConnector
from wizard.engine.hook_events import reporter
from wizard.engine.model import ApplyOptions, Secrets
from wizard.profile_io import save_profile
from wizard.strategies.local_nginx.nginx_build import cache
from wizard.strategies.local_nginx.nginx_build.phase import build_binary

pytestmark = pytest.mark.lab

# A version that downloads (the newest security version's files answered 404 when measured),
# and the sha256 of its .dsc, which pins every file of the source package.
VERSION = "1.22.1-9+deb12u9"
DSC_SHA256 = "28baa4abda06503ae8ecde6e9f049905de7c172d6ec767636628bfcd87499cf4"
PREFIX = "/opt/kube-nginx"
BINARY = f"{PREFIX}/sbin/kube-nginx"
UNIT = "kube-nginx.service"
URL = "https://127.0.0.1:8443/readyz"
BUILT: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def build_cache(tmp_path_factory):
    """One build cache for the module, outside the repo; the environment put back afterwards."""
    before = os.environ.get("KUBEHA_CACHE_DIR")
    os.environ["KUBEHA_CACHE_DIR"] = str(tmp_path_factory.mktemp("kubeha-cache"))
    yield Path(os.environ["KUBEHA_CACHE_DIR"])
    if before is None:
        os.environ.pop("KUBEHA_CACHE_DIR", None)
    else:
        os.environ["KUBEHA_CACHE_DIR"] = before


@pytest.fixture(scope="module")
def source_profile(lab):
    for strategy in ("haproxy-keepalived", "local-nginx"):
        uninstall(lab_profile(lab, strategy))
    profile = with_section(
        lab_profile(lab, "local-nginx"),
        "install",
        method="source",
        source_package_version=VERSION,
        source_sha256=DSC_SHA256,
    )
    yield profile
    uninstall(profile)


def node_state(lab) -> dict[str, str]:
    """What a build or an apply may touch on each node: the prefix, the unit, leftovers."""
    script = (
        f"find {PREFIX} -type f 2>/dev/null | sort | xargs -r sha256sum; "
        f"ls /etc/systemd/system/{UNIT} 2>/dev/null; "
        f"echo $(systemctl is-enabled {UNIT} 2>/dev/null) $(systemctl is-active {UNIT} 2>/dev/null); "
        "ls -d /var/tmp/kubeha-build* 2>/dev/null"
    )
    return {n.name: lab.exec_in_node(n.name, ["sh", "-c", script]).stdout for n in lab.nodes}


def build(profile, recorder=None):
    recorder = recorder or Recorder()
    connector = SshConnector(profile, ApplyOptions(), Secrets())
    try:
        return build_binary(profile, reporter(recorder, "build"), connector), recorder
    finally:
        connector.close()


def test_build_locally_from_the_debian_source_package(source_profile, build_cache):
    binary, recorder = build(source_profile)
    assert binary is not None and not binary.cached, recorder.text()
    record = binary.record
    assert record is not None and record.build_host == "local"
    assert record.version == "1.22.1"
    assert record.configure == (
        "./configure",
        f"--prefix={PREFIX}",
        "--with-stream",
        "--without-http",
    )
    # ldd: nothing beyond the C library's (recorded in the build record and the events)
    assert record.extra_libraries == (), record.ldd
    assert any("libc.so" in line for line in record.ldd)
    assert "ldd: only the C library" in recorder.text()
    assert (build_cache / "builds" / record.key / "kube-nginx").is_file()
    print(f"local build: {record.seconds:.1f} s, {record.size} bytes, ldd: {'; '.join(record.ldd)}")
    BUILT["local"] = binary


def test_build_on_a_lab_node_fetches_the_binary_back(lab, source_profile, build_cache, monkeypatch):
    monkeypatch.setenv("KUBEHA_CACHE_DIR", str(build_cache / "node"))  # no cache hit from local
    profile = with_section(source_profile, "install", build_host="m1")
    binary, recorder = build(profile)
    assert binary is not None and not binary.cached, recorder.text()
    record = binary.record
    assert record is not None and record.build_host == "m1" and record.extra_libraries == ()
    assert len(binary.data) == record.size and record.size > 500_000
    # the node keeps nothing of the build
    assert not lab.exec_in_node("m1", ["sh", "-c", "ls -d /var/tmp/kubeha-build*"]).stdout.strip()
    print(f"build on m1: {record.seconds:.1f} s, {record.size} bytes, ldd: {'; '.join(record.ldd)}")
    BUILT["m1"] = binary


def test_apply_method_source_to_every_node_and_verify_through_each(lab, source_profile):
    summary, recorder = apply(source_profile)
    assert summary.ok, recorder.text()
    assert {n.state.value for n in summary.nodes} == {"verified"}
    # the build ran once, before any node was touched
    phases = [(e.node, e.phase) for e in recorder.events]
    first_node = next(i for i, (node, _) in enumerate(phases) if node is not None)
    assert (None, "build") in phases[:first_node]
    assert "cached kube-nginx 1.22.1 reused" in recorder.text()  # built by the first test
    local = BUILT["local"]
    for node in lab.nodes:
        got = lab.exec_in_node(
            node.name,
            [
                "sh",
                "-c",
                f"sha256sum {BINARY}; ls -d {PREFIX}/logs; {BINARY} -V 2>&1; ldd {BINARY}",
            ],
        ).stdout
        assert got.split()[0] == local.sha256, got
        assert f"{PREFIX}/logs" in got and "--without-http" in got
        assert "libc.so.6" in got and "libssl" not in got and "libpcre" not in got
        conf = lab.exec_in_node(node.name, ["cat", f"{PREFIX}/conf/kube-nginx.conf"]).stdout
        assert "load_module" not in conf and "http {" not in conf
        unit = lab.exec_in_node(node.name, ["systemctl", "cat", UNIT]).stdout
        assert f"ExecStart={BINARY} -c {PREFIX}/conf/kube-nginx.conf -p {PREFIX}/" in unit
    results = loops_on(lab, [n.name for n in lab.nodes], URL, 6, 0.05)
    assert all(r.failed == 0 for r in results.values()), [str(r) for r in results.values()]


def test_reapply_reuses_the_cached_binary_and_restarts_nothing(
    lab, source_profile, tmp_path, capsys
):
    before = {n.name: active_since(lab, n.name, UNIT) for n in lab.nodes}
    path = save_profile(source_profile, tmp_path / "lab-source.toml")
    assert main(["apply", str(path), "--yes"]) == 0  # kubeha apply, as an operator runs it
    out = capsys.readouterr().out
    assert "cached kube-nginx 1.22.1 reused" in out and "built kube-nginx" not in out
    assert out.count("already up to date; nothing written or restarted") == len(lab.nodes), out
    assert {n.name: active_since(lab, n.name, UNIT) for n in lab.nodes} == before


def test_dry_run_uses_the_cached_binary_and_changes_nothing(lab, source_profile):
    before = node_state(lab)
    summary, recorder = apply(source_profile, dry_run=True)
    assert summary.ok, recorder.text()
    assert {n.state.value for n in summary.nodes} == {"planned"}
    assert "cached kube-nginx 1.22.1 would be used" in recorder.text()
    for result in summary.nodes:
        assert [d.action for d in result.diffs if d.path == BINARY] == ["unchanged"]
    assert node_state(lab) == before


def test_method_binary_deploys_the_operator_binary(lab, source_profile, tmp_path):
    uninstall(source_profile)
    node_built = BUILT["m1"]
    path = tmp_path / "kube-nginx"
    path.write_bytes(node_built.data)
    path.chmod(0o755)
    profile = with_section(
        source_profile,
        "install",
        method="binary",
        binary_path=str(path),
        source_package_version=None,
    )
    summary, recorder = apply(profile)
    assert summary.ok, recorder.text()
    assert {n.state.value for n in summary.nodes} == {"verified"}
    assert "operator's binary" in recorder.text()
    for node in lab.nodes:
        got = lab.exec_in_node(node.name, ["sha256sum", BINARY]).stdout
        assert got.split()[0] == node_built.sha256
    results = loops_on(lab, ["m2", "w2"], URL, 4, 0.05)
    assert all(r.failed == 0 for r in results.values()), [str(r) for r in results.values()]


def test_method_binary_refuses_a_binary_without_the_stream_module(lab, source_profile, tmp_path):
    before = node_state(lab)
    fake = tmp_path / "not-nginx"
    fake.write_text(
        "#!/bin/sh\necho 'nginx version: nginx/1.0'\necho 'configure arguments: --without-stream'\n"
    )
    fake.chmod(0o755)
    profile = with_section(source_profile, "install", method="binary", binary_path=str(fake))
    summary, recorder = apply(profile)
    assert not summary.ok
    assert {n.state.value for n in summary.nodes} == {"untouched"}
    # a script is refused by its header, before anything runs it (an ELF without the stream
    # module fails its -V: tests/wizard/strategies/local_nginx/test_binary_no_run.py checks the header, not the lab)
    assert "is a script (it starts with #!); expected a Linux ELF executable" in recorder.text()
    assert node_state(lab) == before


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("broken", ["truncated", "does-not-compile"])
def test_a_broken_source_tarball_fails_the_build_and_changes_no_node(
    lab, source_profile, build_cache, tmp_path, broken
):
    before = node_state(lab)
    good = next((build_cache / "sources").glob(f"nginx_{VERSION}/*.tar.gz")).read_bytes()
    path = tmp_path / f"nginx-{broken}.tar.gz"
    if broken == "truncated":
        path.write_bytes(good[: len(good) // 2])
        expected = "unpacking nginx-truncated.tar.gz failed on local"
    else:
        configure = b"#!/bin/sh\necho 'checking for OS'\nmkdir -p objs\n"
        makefile = b"all:\n\tcc -c -o objs/x.o src/broken.c\n"
        path.write_bytes(
            _tarball(
                {
                    "nginx-x/configure": configure,
                    "nginx-x/Makefile": makefile,
                    "nginx-x/src/broken.c": b"int main(void) { return undeclared_thing; }\n",
                }
            )
        )
        expected = "make failed on local"
    profile = with_section(
        source_profile,
        "install",
        source_tarball=str(path),
        source_package_version=None,
        source_sha256=None,
    )
    summary, recorder = apply(profile)
    assert not summary.ok
    assert {n.state.value for n in summary.nodes} == {"untouched"}
    text = recorder.text()
    assert expected in text, text
    assert "no node was touched" in text
    [failed] = [e for e in recorder.events if e.phase == "build" and e.status.value == "failed"]
    assert failed.lines, "the tail of the build output is shown"
    if broken == "does-not-compile":
        assert any("undeclared_thing" in line for line in failed.lines), failed.lines
    assert not any(e.node and e.phase == "connect" for e in recorder.events)
    assert node_state(lab) == before
    assert cache.cache_dir() == build_cache
