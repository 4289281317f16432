"""The build cache on the operator's machine: one folder per build key (source hash, configure
flags, toolchain), holding the binary and a JSON record of how it was built. Never in the repo."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from wizard.paths import make_private_dirs

BINARY = "kube-nginx"
RECORD = "build.json"


def cache_dir() -> Path:
    """``$KUBEHA_CACHE_DIR`` or ``$XDG_CACHE_HOME/kubeha`` (``~/.cache/kubeha``)."""
    override = os.environ.get("KUBEHA_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kubeha"


def build_key(source_sha256: str, configure_argv: list[str], toolchain: str) -> str:
    """What makes two builds the same binary: the same source, flags and toolchain."""
    text = "\n".join([source_sha256, "--", *configure_argv, "--", toolchain])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BuildRecord:
    key: str
    sha256: str
    size: int
    version: str
    build_host: str
    source: str
    source_sha256: str
    configure: tuple[str, ...]
    toolchain: str
    ldd: tuple[str, ...]
    extra_libraries: tuple[str, ...]  # beyond the C library's: the nodes need them too
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BuildRecord:
        data = json.loads(text)
        for name in ("configure", "ldd", "extra_libraries"):
            data[name] = tuple(data[name])
        return cls(**data)


def lookup(key: str) -> tuple[bytes, BuildRecord] | None:
    """The cached binary and its record, when both are there and the hash still matches."""
    folder = cache_dir() / "builds" / key
    try:
        record = BuildRecord.from_json((folder / RECORD).read_text())
        data = (folder / BINARY).read_bytes()
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if hashlib.sha256(data).hexdigest() != record.sha256:
        return None
    return data, record


def store(data: bytes, record: BuildRecord) -> Path:
    """Keep the binary and its record (written to a temporary folder, then renamed)."""
    root = cache_dir() / "builds"
    make_private_dirs(root)  # 0700, parents too, whatever the umask
    tmp = Path(tempfile.mkdtemp(prefix=f".{record.key}-", dir=root))
    (tmp / BINARY).write_bytes(data)
    (tmp / BINARY).chmod(0o755)
    (tmp / RECORD).write_text(record.to_json())
    (tmp / RECORD).chmod(0o600)
    final = root / record.key
    if final.exists():
        for entry in final.iterdir():
            entry.unlink()
        final.rmdir()
    tmp.rename(final)
    return final / BINARY
