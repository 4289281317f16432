"""Running a scenario module (``tests.support.<name>``) in an empty network namespace of its
own (``unshare -n``: only loopback), as the tests on real haproxy, nginx and the session cutter
do, and the self-signed certificate its stand-in masters serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """``tls.crt`` and ``tls.key`` in ``folder``: a day's certificate for kube-apiserver."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=kube-apiserver", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def in_empty_netns(module: str, *args: str, timeout: float = 120) -> dict:
    """What ``tests.support.<module>`` printed last (one JSON line), run under ``unshare -n``."""
    result = subprocess.run(
        [*("unshare", "-n", sys.executable, "-m", f"tests.support.{module}"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    print(seen)
    return seen
