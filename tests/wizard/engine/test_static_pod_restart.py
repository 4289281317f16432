"""A static pod restarted through its manifest (wizard.engine.clients.manifest_restart_script),
run by a real shell against a stand-in for kubelet's file source: a loop that runs the pod's
process while its manifest is in the folder and stops it when it leaves. This tests the
script's own logic (the manifest leaves by a rename and comes back byte for byte, with its
inode; the script waits for the old process to go and a new one to come; the manifest is back
on every way out); kubelet's own reaction is tested in the kubeadm lab."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from wizard.engine.clients import manifest_restart_script

KUBELET = """
m="$1/$2.yaml"; pid=
i=0
while [ "$i" -lt 600 ]; do
  if [ -e "$m" ] && [ -z "$pid" ]; then (exec -a "$2" sleep 300) & pid=$!; echo $pid >> "$3"; fi
  if [ ! -e "$m" ] && [ -n "$pid" ] && [ -z "$STUCK" ]; then kill $pid; wait $pid; pid=; fi
  i=$((i+1)); sleep 0.1
done
[ -n "$pid" ] && kill $pid
"""


@pytest.fixture
def folder(tmp_path: Path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    return manifests


def start_kubelet(folder: Path, pod: str, stuck: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STUCK": "1" if stuck else ""}
    started = folder.parent / "started"
    return subprocess.Popen(
        ["bash", "-c", KUBELET, "kubelet", str(folder), pod, str(started)], env=env
    )


def wait_started(folder: Path, count: int) -> list[str]:
    started = folder.parent / "started"
    for _ in range(100):
        lines = started.read_text().split() if started.exists() else []
        if len(lines) >= count:
            return lines
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(f"the stand-in did not start {count} process(es)")


def run_script(folder: Path, pod: str, seconds: float) -> subprocess.CompletedProcess[str]:
    script = manifest_restart_script(pod, seconds, str(folder))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)


def test_the_pod_restarts_and_its_manifest_comes_back_byte_for_byte(folder: Path):
    pod = f"kubeha-test-pod-{uuid.uuid4().hex[:8]}"
    manifest = folder / f"{pod}.yaml"
    manifest.write_bytes(b"apiVersion: v1\nkind: Pod\n# every byte\r\n")
    os.utime(manifest, (1_000_000_000, 1_000_000_000))
    before = manifest.stat()
    kubelet = start_kubelet(folder, pod)
    try:
        first = wait_started(folder, 1)
        result = run_script(folder, pod, 20)
        assert result.stdout.split()[-1] == "restarted", result
        both = wait_started(folder, 2)
        assert both[0] == first[0] and both[1] != first[0]
        after = manifest.stat()
        assert manifest.read_bytes() == b"apiVersion: v1\nkind: Pod\n# every byte\r\n"
        assert (after.st_ino, after.st_mtime, after.st_mode) == (
            before.st_ino,
            before.st_mtime,
            before.st_mode,
        )
        assert not list(folder.parent.glob(".kubeha-*"))
    finally:
        kubelet.kill()
        kubelet.wait()


def test_a_pod_that_does_not_stop_fails_with_its_manifest_back(folder: Path):
    pod = f"kubeha-test-pod-{uuid.uuid4().hex[:8]}"
    manifest = folder / f"{pod}.yaml"
    manifest.write_text("kind: Pod\n")
    kubelet = start_kubelet(folder, pod, stuck=True)
    try:
        wait_started(folder, 1)
        result = run_script(folder, pod, 2)
        assert result.stdout.split()[-1] == "not-stopped" and result.returncode == 1
        assert manifest.read_text() == "kind: Pod\n"
        assert not list(folder.parent.glob(".kubeha-*"))
    finally:
        kubelet.kill()
        kubelet.wait()


def test_a_manifest_a_stopped_run_left_outside_is_moved_back(folder: Path):
    pod = f"kubeha-test-pod-{uuid.uuid4().hex[:8]}"
    away = folder.parent / f".kubeha-{pod}.yaml.away"
    away.write_text("kind: Pod\n")
    result = run_script(folder, pod, 2)
    assert result.stdout.split()[-1] == "not-running"  # no kubelet here: nothing runs it
    assert (folder / f"{pod}.yaml").read_text() == "kind: Pod\n" and not away.exists()


def test_no_manifest_says_so(folder: Path):
    assert run_script(folder, "kubeha-test-absent", 1).stdout.split() == ["no-manifest"]
