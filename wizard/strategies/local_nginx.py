"""local-nginx: an nginx stream proxy on every node, listening on 127.0.0.1:8443 by default, with
every master as an upstream (the kubeasz / seed-guide design, failover-tuned).

Install method ``package`` runs the distro's nginx with its stream module under its own unit and
config (beside any nginx the node already runs); ``source`` and ``binary`` run a kube-nginx binary
under the install prefix, as the seed guides do.
"""

from __future__ import annotations

from wizard.netaddr import url_host
from wizard.profile import Profile
from wizard.render import NodePlan, RenderedFile, RenderPlan, render_template
from wizard.strategies.common import CUTTER_UNIT, session_cutter_files, snippets

UNIT = "kube-nginx.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
PACKAGE_NGINX = "/usr/sbin/nginx"
PACKAGE_CONF = "/etc/kube-nginx/kube-nginx.conf"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PID_FILE = "/run/kube-nginx.pid"
FAIL_TIMEOUT_S = 10


def layout(profile: Profile) -> dict[str, str]:
    """Where the binary and the config live for the profile's install method."""
    if profile.install.method == "package":
        return {"binary": PACKAGE_NGINX, "conf": PACKAGE_CONF, "prefix": ""}
    prefix = profile.install.prefix.rstrip("/")
    return {
        "binary": f"{prefix}/sbin/kube-nginx",
        "conf": f"{prefix}/conf/kube-nginx.conf",
        "prefix": prefix,
    }


def nginx_command(profile: Profile) -> str:
    where = layout(profile)
    command = f"{where['binary']} -c {where['conf']}"
    return f"{command} -p {where['prefix']}/" if where["prefix"] else command


def check_argv(profile: Profile) -> tuple[str, ...]:
    where = layout(profile)
    argv = (where["binary"], "-t", "-q", "-c", "{file}")
    return (*argv, "-p", f"{where['prefix']}/") if where["prefix"] else argv


def plan(profile: Profile) -> RenderPlan:
    where = layout(profile)
    package = profile.install.method == "package"
    conf = render_template(
        "local-nginx/kube-nginx.conf.j2",
        profile=profile,
        load_stream_module=package,
        stream_module=STREAM_MODULE,
        pid_file=PID_FILE,
        max_fails=profile.health_check.fall,
        fail_timeout=FAIL_TIMEOUT_S,
    )
    unit = render_template(
        "local-nginx/kube-nginx.service.j2",
        profile=profile,
        pid_file=PID_FILE,
        nginx_command=nginx_command(profile),
    )
    files = (
        RenderedFile(
            where["conf"],
            conf,
            "local-nginx/kube-nginx.conf.j2",
            check=check_argv(profile),
            service=UNIT,
        ),
        RenderedFile(
            UNIT_PATH,
            unit,
            "local-nginx/kube-nginx.service.j2",
            service=UNIT,
            restart=True,
        ),
        *session_cutter_files(profile),
    )
    ln = profile.local_nginx
    verify_url = (
        f"https://{url_host(ln.listen_address)}:{ln.listen_port}{profile.health_check.path}"
    )
    packages = ("nginx-light", "libnginx-mod-stream") if package else ()
    nodes = tuple(
        NodePlan(
            node=node.name,
            role=profile.role_of(node.name),
            address=node.address,
            files=files,
            services=(UNIT, CUTTER_UNIT),
            packages=packages,
            verify_url=verify_url,
            ports=((ln.listen_address, ln.listen_port),),
        )
        for node in profile.all_nodes()
    )
    extra, server_url = snippets(profile, ln.listen_address, ln.listen_port, (ln.listen_address,))
    return RenderPlan(profile=profile, nodes=nodes, snippets=extra, server_url=server_url)
