"""The seed guides' configs, as the guides give them, put on lab nodes over a kubeha deploy so
both are measured by the same drill in the same run: nginx from guide 000, haproxy from 004.

Only the lines a package install needs are added (the stream module, a pid file); everything the
guides choose — hash balancing, max_fails, fail_timeout, check intervals, no timeouts — is kept.
"""

from __future__ import annotations

import shlex

from wizard.lab import Lab
from wizard.profile import Profile
from wizard.strategies.common import CUTTER_UNIT
from wizard.strategies.haproxy_keepalived import lb_hosts
from wizard.strategies.local_nginx import PACKAGE_CONF, PID_FILE, STREAM_MODULE


def seed_nginx_conf(profile: Profile) -> str:
    servers = "\n".join(
        f"server {m.address}:{m.apiserver_port} max_fails=3 fail_timeout=30s;"
        for m in profile.masters
    )
    return f"""# guide 000's kube-nginx.conf (stream proxy on every node); kubeha added the two lines
# a package install needs: load_module and pid.
load_module {STREAM_MODULE};
pid {PID_FILE};
worker_processes auto;
worker_cpu_affinity auto;
worker_rlimit_nofile 65535;
events {{
use epoll;
worker_connections 65535;
accept_mutex on;
multi_accept on;
}}
stream {{
upstream backend {{
hash $remote_addr consistent;
{servers}
}}
server {{
listen 127.0.0.1:8443;
proxy_connect_timeout 1s;
proxy_pass backend;
}}
}}
"""


def seed_haproxy_cfg(profile: Profile) -> str:
    servers = "\n".join(
        f"server {m.name} {m.address}:{m.apiserver_port} check check-ssl verify none"
        for m in profile.masters
    )
    return f"""# guide 004's haproxy (layer-7 check, TCP proxy), bound on the VIP port kubeha's keepalived
# serves; the guide's second bind on 127.0.0.1 of the same port is left out.
global
log /dev/log local0 warning
frontend k8s-api
bind 0.0.0.0:8443
mode tcp
option tcplog
tcp-request inspect-delay 5s
default_backend k8s-api
backend k8s-api
mode tcp
option tcplog
option httpchk GET /healthz
http-check expect string ok
balance roundrobin
default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 weight 100
{servers}
"""


def install_seed(lab: Lab, profile: Profile) -> None:
    """Replace kubeha's proxy config with the guide's on every node that runs one and stop
    kubeha's session cutter there (a later kubeha apply puts everything back)."""
    if profile.strategy == "local-nginx":
        path, text, unit = PACKAGE_CONF, seed_nginx_conf(profile), "kube-nginx.service"
        hosts = [n.name for n in profile.all_nodes()]
    else:
        path, text, unit = "/etc/haproxy/haproxy.cfg", seed_haproxy_cfg(profile), "haproxy.service"
        hosts = [n.name for n in lb_hosts(profile)]
    for name in hosts:
        write = f"printf %s {shlex.quote(text)} > {shlex.quote(path)}"
        lab.exec_in_node(name, ["sh", "-c", write], check=True)
        lab.exec_in_node(name, ["systemctl", "stop", CUTTER_UNIT], check=True)
        lab.exec_in_node(name, ["systemctl", "restart", unit], check=True)
