"""What every strategy shares: the operator's snippets (kubeadm, kubeconfig server) and the
header every rendered file starts from."""

from __future__ import annotations

from wizard.netaddr import host_port, url_host
from wizard.plan import RenderedFile
from wizard.profile import Profile
from wizard.templating import render_template


def cert_sans(profile: Profile, extra: tuple[str, ...]) -> list[str]:
    """Every name and address a client may use for the apiserver, once, in a stable order."""
    names: list[str] = []
    for value in (
        *extra,
        "127.0.0.1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        *(m.address for m in profile.masters),
        *(m.name for m in profile.masters),
    ):
        if value not in names:
            names.append(value)
    return names


def snippets(
    profile: Profile, endpoint_host: str, endpoint_port: int, extra_sans: tuple[str, ...]
) -> tuple[tuple[RenderedFile, ...], str]:
    endpoint = host_port(endpoint_host, endpoint_port)
    server_url = f"https://{url_host(endpoint_host)}:{endpoint_port}"
    kubeadm = render_template(
        "common/kubeadm-config.yaml.j2",
        profile=profile,
        endpoint=endpoint,
        cert_sans=cert_sans(profile, extra_sans),
    )
    server = render_template(
        "common/kubeconfig-server.txt.j2", profile=profile, server_url=server_url
    )
    files = (
        RenderedFile("kubeadm-config.yaml", kubeadm, "common/kubeadm-config.yaml.j2"),
        RenderedFile("kubeconfig-server.txt", server, "common/kubeconfig-server.txt.j2"),
    )
    return files, server_url


CUTTER_UNIT = "kubeha-session-cutter.service"
CUTTER_UNIT_PATH = f"/etc/systemd/system/{CUTTER_UNIT}"
CUTTER_PATH = "/usr/local/lib/kubeha/kubeha-session-cutter"


def session_cutter_files(profile: Profile) -> tuple[RenderedFile, RenderedFile]:
    """The script and unit that cut every session to a master that stops answering its health
    check (see templates/common/kubeha-session-cutter.j2 for why)."""
    script = render_template(
        "common/kubeha-session-cutter.j2", profile=profile, hc=profile.health_check
    )
    unit = render_template(
        "common/kubeha-session-cutter.service.j2", profile=profile, checker_path=CUTTER_PATH
    )
    return (
        RenderedFile(
            CUTTER_PATH,
            script,
            "common/kubeha-session-cutter.j2",
            mode=0o755,
            check=("sh", "-n", "{file}"),
            service=CUTTER_UNIT,
            restart=True,
        ),
        RenderedFile(
            CUTTER_UNIT_PATH,
            unit,
            "common/kubeha-session-cutter.service.j2",
            service=CUTTER_UNIT,
            restart=True,
        ),
    )
