"""A tiny writer of cpio archives in the "newc" format, the one the kernel unpacks as initramfs.

Enough for the QEMU lab nodes' initramfs: folders, regular files, device nodes. Several archives
may be concatenated; the kernel unpacks them one after the other.
"""

from __future__ import annotations

import stat
from pathlib import Path
from types import TracebackType


class CpioWriter:
    """Write entries to ``path``; call :meth:`end` (or leave the ``with`` block) to finish."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._inode = 1
        self._ended = False

    def __enter__(self) -> CpioWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None and not self._ended:
            self.end()
        self._file.close()

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self._inode += 1
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        self._file.write(header + encoded)
        self._file.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self._file.write(data)
        self._file.write(b"\0" * (-len(data) % 4))

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def tree(self, root: Path, prefix: str) -> None:
        """Every folder, file and symlink under ``root``, named ``prefix/<relative path>``."""
        self.directory(prefix)
        for path in sorted(root.rglob("*")):
            name = f"{prefix}/{path.relative_to(root)}"
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                self.symlink(name, str(path.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                self.directory(name, stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                self.file(name, path.read_bytes(), stat.S_IMODE(info.st_mode))

    def end(self) -> None:
        self._entry("TRAILER!!!", 0)
        self._ended = True
