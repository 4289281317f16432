"""Files that no service reads: what makes them take effect now, without a reboot.

``/etc/modules-load.d/*.conf`` is read by systemd at boot; ``/etc/sysctl.d/*.conf`` too. When
apply changes one, the engine loads the modules (``modprobe -a``) or applies the settings
(``sysctl -p FILE``) at once. A file that belongs to a service needs nothing here: the service's
reload or restart reads it.
"""

from __future__ import annotations

from wizard.render import RenderedFile


def modules_in(content: str) -> list[str]:
    """Module names in a modules-load.d file (comments and blank lines skipped)."""
    names = []
    for line in content.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            names.append(line)
    return names


def load_now(rendered: RenderedFile) -> list[list[str]]:
    """The commands (argvs) that make a changed file take effect now, in order."""
    if rendered.service:
        return []
    if rendered.path.startswith("/etc/modules-load.d/"):
        modules = modules_in(rendered.content)
        return [["modprobe", "-a", *modules]] if modules else []
    if rendered.path.startswith("/etc/sysctl.d/"):
        return [["sysctl", "-q", "-p", rendered.path]]
    return []
