"""Running a scenario module (``tests.support.<name>``, or a bench's) in an empty network
namespace of its own (``unshare -n``: only loopback), as the tests on real haproxy, nginx and the
session cutter do, the self-signed certificate its stand-in masters serve, a profile whose masters
are those stand-ins, and the session cutter rendered for it with its /run paths moved."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.all_failing_scenario import MASTERS
from tests.support.examples import example_profile
from wizard.profile import Master, Profile
from wizard.strategies.common import ALL_FAILING_FILE, CUTTER_MARKS_DIR, session_cutter_files

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


def loopback_profile(strategy: str, **health) -> Profile:
    """The example profile of ``strategy`` whose masters are the stand-ins (MASTERS:6443),
    ``[health_check]`` changed by ``health``."""
    profile = example_profile(strategy)
    return dataclasses.replace(
        profile,
        masters=tuple(Master(f"m{i}", a, 6443) for i, a in enumerate(MASTERS, 1)),
        health_check=dataclasses.replace(profile.health_check, **health),
    )


def cutter_text(profile: Profile, folder: Path | str) -> str:
    """The session cutter rendered for ``profile``, its /run paths (the all-failing file, the
    marks) in ``folder``."""
    text = session_cutter_files(profile)[0].content
    text = text.replace(ALL_FAILING_FILE, f"{folder}/all-masters-failing")
    return text.replace(CUTTER_MARKS_DIR, f"{folder}/marks")


def in_empty_netns(module: str, *args: str, timeout: float = 120) -> dict:
    """What ``tests.support.<module>`` (or ``module`` when it is dotted, a bench's) printed last
    (one JSON line), run under ``unshare -n``."""
    target = module if "." in module else f"tests.support.{module}"
    result = subprocess.run(
        [*("unshare", "-n", sys.executable, "-m", target), *args],
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
