"""The balancer as a static pod: the ``[balancer]`` table of the node-local strategies.

Clusters made by kubeadm run their node-local balancer as a static pod that kubelet supervises
(kubespray's nginx-proxy and haproxy, the kubeadm HA guide's haproxy and keepalived): a
manifest in kubelet's manifests folder, the config on the host, mounted read-only. With
``run_as = "static-pod"`` kubeha does the same: the config files stay where the systemd install
puts them, a manifest replaces the systemd unit (no unit is written), and the image is the one
the profile names (``IfNotPresent``: kubeha never pulls or builds it; a dry run downloads
nothing).

Each manifest is named ``kubeha-<balancer>.yaml``: kubelet reads every file of its folder that
does not start with a dot, so kubeha keeps the staged copy and the backups of such a file
hidden beside it (``wizard.backups.beside``). It carries the sha256 of the config it runs:
kubelet restarts a static pod when its manifest changes, and only then.

The config is checked by the image's own program before it is put in place, run through the
node's containerd (``ctr``, as kubelet runs it), so the check is the binary that will serve it.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from wizard.field_checks import ABS_PATH_RE, normal_folder
from wizard.plan import RenderedFile
from wizard.problems import Problem, error
from wizard.strategies.fields import described
from wizard.templating import render_template

TABLE = "balancer"
MANIFESTS_DIR = "/etc/kubernetes/manifests"  # kubeadm's staticPodPath
# A reference as the container runtimes take it: [registry[:port]/]path[:tag][@sha256:digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?/)"
IMAGE_RE = re.compile(
    rf"\A{_REGISTRY}?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\Z"
)
MAX_IMAGE = 255


class RunAs(StrEnum):
    """What supervises the balancer (a profile keeps the plain string)."""

    SYSTEMD = "systemd"  # its own systemd unit (kubeha's default)
    STATIC_POD = "static-pod"  # a static pod kubelet runs from its manifests folder


RUN_AS = tuple(RunAs)
FORM_ORDER = ("run_as", "image", "manifests_dir")
NGINX_FORM_ORDER = ("run_as", "image", "stream_module", "manifests_dir")
KEEPALIVED_FORM_ORDER = ("run_as", "image", "keepalived_image", "manifests_dir")


@dataclass(frozen=True)
class Balancer:
    """The ``[balancer]`` table: how the node-local balancer runs."""

    run_as: str = described(
        RunAs.SYSTEMD.value,
        "Runs as",
        "systemd: its own unit · static-pod: kubelet runs it (kubeadm clusters)",
        choices=RUN_AS,
    )
    image: str = described(
        "",
        "Image",
        "static-pod: the balancer's image (IfNotPresent; kubeha never pulls it)",
        placeholder="docker.io/library/<haproxy or nginx>:<tag>",
    )
    manifests_dir: str = described(
        MANIFESTS_DIR, "Manifests folder", "static-pod: kubelet's staticPodPath"
    )
    stream_module: str = described(
        "",
        "Stream module",
        "static-pod, nginx: the image's ngx_stream_module.so, empty when built in",
        placeholder="/usr/lib/nginx/modules/ngx_stream_module.so",
    )

    keepalived_image: str = described(
        "",
        "keepalived image",
        "static-pod: keepalived's image (with sh and curl for its check)",
        placeholder="registry.example/keepalived:2.2",
    )

    @property
    def static_pod(self) -> bool:
        return self.run_as == RunAs.STATIC_POD


def check_image(problems: list[Problem], field: str, value: str) -> None:
    if not value:
        problems.append(
            error(
                field,
                value,
                "run_as 'static-pod' needs an image, e.g. docker.io/library/haproxy:2.8",
            )
        )
    elif len(value) > MAX_IMAGE or not IMAGE_RE.fullmatch(value):
        problems.append(
            error(
                field,
                value,
                "expected an image reference such as registry.example:5000/haproxy:2.8 "
                "(lower-case path, an optional tag and @sha256 digest)",
            )
        )


def check_balancer(table: Balancer, *, keepalived: bool = False) -> list[Problem]:
    """Every problem of the ``[balancer]`` table; ``keepalived``: a static pod needs
    ``keepalived_image`` too (haproxy-keepalived)."""
    problems: list[Problem] = []
    if table.run_as not in RUN_AS:
        problems.append(
            error(f"{TABLE}.run_as", table.run_as, f"expected one of {', '.join(RUN_AS)}")
        )
        return problems
    folder = table.manifests_dir
    if not ABS_PATH_RE.fullmatch(folder) or ".." in folder.split("/"):
        problems.append(
            error(
                f"{TABLE}.manifests_dir",
                folder,
                f"expected kubelet's manifests folder as an absolute path, e.g. {MANIFESTS_DIR}",
            )
        )
    elif normal_folder(folder) == "/":
        problems.append(
            error(
                f"{TABLE}.manifests_dir",
                folder,
                f"is the root folder '/': expected kubelet's manifests folder, e.g. {MANIFESTS_DIR}",
            )
        )
    # Each field is checked for its shape whenever it is set (whatever run_as says), and
    # required where the static pod needs it.
    images = [
        ("image", table.image, True),
        ("keepalived_image", table.keepalived_image, keepalived),
    ]
    for name, value, needed in images:
        if value or (needed and table.static_pod):
            check_image(problems, f"{TABLE}.{name}", value)
    module = table.stream_module
    if module and (not ABS_PATH_RE.fullmatch(module) or not module.endswith(".so")):
        problems.append(
            error(
                f"{TABLE}.stream_module",
                module,
                "expected the module's absolute path in the image, e.g. "
                "/usr/lib/nginx/modules/ngx_stream_module.so, or empty when nginx has it built in",
            )
        )
    return problems


def manifest_path(table: Balancer, name: str) -> str:
    """Where the manifest of balancer ``name`` goes: ``<manifests_dir>/kubeha-<name>.yaml``."""
    return f"{normal_folder(table.manifests_dir)}/kubeha-{name}.yaml"


def manifest_paths(table: Balancer, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(manifest_path(table, name) for name in names)


def config_sha256(*files: RenderedFile) -> str:
    """The sha256 of the configs a pod runs on: in its manifest, so a config change is a
    manifest change (kubelet restarts the pod only then)."""
    digest = hashlib.sha256()
    for rendered in files:
        digest.update(rendered.path.encode() + b"\0" + rendered.content.encode() + b"\0")
    return digest.hexdigest()


def manifest_file(
    table: Balancer, name: str, template: str, configs: tuple[RenderedFile, ...], **context: object
) -> RenderedFile:
    """The static pod ``kubeha-<name>`` rendered from ``template`` (context: ``image``,
    ``config_sha256`` and ``context``), its configs mounted at their own paths."""
    content = render_template(
        template,
        pod_name=f"kubeha-{name}",
        image=table.image,
        config_sha256=config_sha256(*configs),
        **context,
    )
    return RenderedFile(manifest_path(table, name), content, template, mode=0o600)


def image_check(
    image: str, config: str, argv: tuple[str, ...], mounts: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The node's check of a staged config (``{file}``) by the image's own program ``argv``
    (``{config}`` in it stands for ``config``, where the pod mounts it), run through the node's
    containerd in kubelet's namespace (``ctr -n k8s.io``); ``mounts``: other host files the
    config names, mounted read-only at their paths. Refused with what to do when the node has
    no ctr or the image is not there yet: kubeha never pulls it."""
    inner = " ".join(shlex.quote(a.replace("{config}", config)) for a in argv)
    extra = " ".join(
        f"--mount type=bind,src={shlex.quote(m)},dst={shlex.quote(m)},options=rbind:ro"
        for m in mounts
    )
    img = shlex.quote(image)
    script = (
        'f=$1; command -v ctr >/dev/null 2>&1 || { echo "no ctr on the node: cannot run '
        f'{img} to check {config}" >&2; exit 1; }}\n'
        f'ctr -n k8s.io images ls -q name=={img} | grep -q . || {{ echo "image {img} is not on '
        f"the node (containerd, namespace k8s.io): kubeha never pulls it; pull or import it "
        f'first (crictl pull {img})" >&2; exit 1; }}\n'
        f"exec ctr -n k8s.io run --rm --net-host "
        f'--mount type=bind,src="$f",dst={shlex.quote(config)},options=rbind:ro {extra} '
        f"{img} kubeha-check-$$ {inner}"
    )
    return ("sh", "-c", script, "kubeha-check", "{file}")
