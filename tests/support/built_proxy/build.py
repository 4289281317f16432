"""built-proxy's own build step: a real program run on this machine, in a folder of its own,
before any node is touched (as local-nginx's kube-nginx source build, ``nginx_build``, is).

A dry run builds nothing and says what it would build. A build that fails raises
:class:`~wizard.errors.PrepareFailed` with the tail of its output: the engine then touches no
node."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.support.built_proxy.install import BuiltInstall
from wizard.errors import PrepareFailed
from wizard.strategies.hooks import Report

# The "compiler": writes the binary, or fails as a compiler does when the flags say --broken.
COMPILE = (
    'case " $2 " in *" --broken "*) echo "proxy.c:1: error: broken on purpose" >&2; exit 2;; '
    'esac; printf "#!built-proxy %s\\n" "$1" > "$3"'
)

BUILT: list[str] = []  # every version built in this process, in order (for the tests)


def build(install: BuiltInstall, report: Report, dry_run: bool) -> bytes | None:
    """The binary's bytes; None in a dry run (nothing is built)."""
    report("started", f"built-proxy {install.version} from source on local", progress=0.1)
    if dry_run:
        report("info", f"would build built-proxy {install.version} on local", progress=1.0)
        return None
    with tempfile.TemporaryDirectory(prefix="built-proxy-") as folder:
        out = Path(folder) / "built-proxy"
        done = subprocess.run(
            ["sh", "-c", COMPILE, "sh", install.version, install.flags, str(out)],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            tail = tuple((done.stdout + done.stderr).splitlines())[-10:]
            raise PrepareFailed(f"make failed on local (exit {done.returncode})", tail)
        data = out.read_bytes()
    BUILT.append(install.version)
    report("ok", f"built built-proxy {install.version} on local", progress=1.0)
    return data
