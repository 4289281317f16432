"""The kubeadm configuration API the kubeadm snippet is written in (``[cluster] kubeadm_api``).

kubeadm 1.31 introduced ``kubeadm.k8s.io/v1beta4`` and deprecated ``v1beta3``, which is the newest
API of kubeadm 1.22 to 1.30; kubeadm 1.36 removed ``v1beta3`` (kubernetes/kubernetes#136016: the
1.35 kubeadm's ``kubeadm config migrate`` turns a v1beta3 file into v1beta4). The two ClusterConfigurations differ where kubeha's snippet could
reach them (``apiServer.extraArgs`` is a map in v1beta3, a list of ``name``/``value`` in
v1beta4; ``apiServer.timeoutForControlPlane`` left v1beta4's ClusterConfiguration), so the
snippet emits only fields that both take the same way: ``controlPlaneEndpoint`` and
``apiServer.certSANs``. A leaf module: the profile and the templates both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "kubeadm.k8s.io"


@dataclass(frozen=True)
class KubeadmApi:
    """One kubeadm configuration API kubeha writes the snippet in."""

    name: str  # the profile's value, e.g. "v1beta4"
    kubeadm: str  # the kubeadm releases that read it, for the snippet's header and the form

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{self.name}"


APIS = (
    KubeadmApi("v1beta4", "kubeadm 1.31 and newer"),
    KubeadmApi("v1beta3", "kubeadm 1.22 to 1.35 (deprecated in 1.31, removed in kubeadm 1.36)"),
)
CHOICES = tuple(api.name for api in APIS)
DEFAULT = CHOICES[0]


def find(name: str) -> KubeadmApi | None:
    """The API named ``name`` (a validated profile's is always found)."""
    return next((api for api in APIS if api.name == name), None)


def get(name: str) -> KubeadmApi:
    """The API named ``name``; KeyError for a value the validator refuses."""
    api = find(name)
    if api is None:
        raise KeyError(f"kubeadm API {name!r}: expected one of {', '.join(CHOICES)}")
    return api
