"""Where local-nginx's files live on a node for each install method: the binary, its config, its
unit and pid file. The strategy's plan and its kube-nginx build both read it (the build puts the
binary where the plan's unit runs it), so neither imports the other."""

from __future__ import annotations

from wizard.profile import Profile
from wizard.strategies.local_nginx.install import TABLE, Install, InstallMethod

UNIT = "kube-nginx.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
PACKAGE_NGINX = "/usr/sbin/nginx"
PACKAGE_CONF = "/etc/kube-nginx/kube-nginx.conf"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PID_FILE = "/run/kube-nginx.pid"
BUILD_PANE = "kube-nginx"  # the Deploy screen's pane for the build, before the node panes


def layout(profile: Profile) -> dict[str, str]:
    """Where the binary and the config live for the profile's install method."""
    install = profile.table(TABLE, Install)
    if install.method == InstallMethod.PACKAGE:
        return {"binary": PACKAGE_NGINX, "conf": PACKAGE_CONF, "prefix": ""}
    prefix = install.prefix.rstrip("/")
    return {
        "binary": f"{prefix}/sbin/kube-nginx",
        "conf": f"{prefix}/conf/kube-nginx.conf",
        "prefix": prefix,
    }
