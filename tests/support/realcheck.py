"""Run a rendered file through the real program that will read it on a node.

nginx, haproxy and keepalived come from Debian's packages (scripts/bootstrap installs them).
keepalived's check runs in a private mount and network namespace (root), where its check script
sits at its real path and the configured interface exists as one end of a veth pair, so the test never touches
this machine's own /etc or network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from wizard.render import NodePlan, RenderedFile
from wizard.strategies import local_nginx

STREAM_MODULE = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
NODE_ONLY_BINARIES = (
    "/opt/kube-nginx/sbin/kube-nginx",
    "/usr/local/lib/kubeha/kubeha-ipvs-checker",
    "/usr/local/lib/kubeha/kubeha-session-cutter",
    "/usr/local/lib/kubeha/kubeha-vip-follower",
)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def check_nginx(path: Path, source_layout: bool) -> subprocess.CompletedProcess[str]:
    argv = ["nginx", "-t", "-q", "-c", str(path)]
    if source_layout:
        # A kube-nginx binary has the stream module built in; Debian's nginx loads it.
        argv += ["-p", tempfile.gettempdir() + "/", "-g", STREAM_MODULE]
    return _run(argv)


def check_haproxy(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(["haproxy", "-c", "-q", "-f", str(path)])


def check_keepalived(
    conf: RenderedFile, plan: NodePlan, interface: str
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as folder:
        etc = Path(folder) / "keepalived"
        etc.mkdir()
        others = [f for f in plan.files if f.path != conf.path]
        for rendered in [*others, conf]:
            if rendered.path.startswith("/etc/keepalived/"):
                target = etc / Path(rendered.path).name
                target.write_text(rendered.content)
                os.chmod(target, rendered.mode)
        script = (
            f"ip link add {interface} type veth peer name kubeha-peer && ip link set {interface} up && "
            f"mount --bind {etc} /etc/keepalived && "
            f"keepalived --config-test --use-file=/etc/keepalived/{Path(conf.path).name}"
        )
        return _run(["unshare", "--net", "--mount", "sh", "-c", script])


def check_unit(rendered: RenderedFile) -> list[str]:
    """systemd-analyze verify; the complaints left after the node-only binaries are excused."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(rendered.path).name
        path.write_text(rendered.content)
        result = _run(["systemd-analyze", "verify", str(path)])
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return [
        line
        for line in lines
        if not any(f"Command {b} is not executable" in line for b in NODE_ONLY_BINARIES)
    ]


def have(program: str) -> bool:
    return shutil.which(program) is not None


def is_source_layout(rendered: RenderedFile) -> bool:
    return not rendered.path.startswith(local_nginx.PACKAGE_CONF.rsplit("/", 1)[0])
