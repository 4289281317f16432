"""The node agent as one file: a zip application of ``wizard/agent/`` (standard library only)
that the nodes' ``python3`` runs (``python3 /usr/local/lib/kubeha/kubeha-agent.pyz``).

The archive is the same bytes for the same sources (fixed timestamps and order), so kubeha's
upload sees no change when the agent did not change.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent / "agent"
NODE_PATH = "/usr/local/lib/kubeha/kubeha-agent.pyz"
SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = "import sys\nfrom wizard.agent.__main__ import main\n\nsys.exit(main())\n"
STAMP = (2020, 1, 1, 0, 0, 0)


def _entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, STAMP)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def bundle() -> bytes:
    """The zip application's bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _entry(archive, "__main__.py", MAIN.encode())
        _entry(archive, "wizard/__init__.py", b'"""Only the node agent of kubeha."""\n')
        for path in sorted(AGENT_DIR.glob("*.py")):
            _entry(archive, f"wizard/agent/{path.name}", path.read_bytes())
    return SHEBANG + buffer.getvalue()
