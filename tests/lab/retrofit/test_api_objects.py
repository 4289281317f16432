"""kubeadm's objects given back when the apply fails, on the lab's real control plane (a real
kube-apiserver, etcd and kube-controller-manager with its bootstrap signer, as kubeadm runs it).

The objects are made as kubeadm makes them (the kube-proxy ConfigMap and DaemonSet,
cluster-info with a bootstrap token that signs it, kubeadm-config), kubeadm's admin kubeconfig
is put where kubeadm has it on m1, then the signer is stopped (a flag of the controller-manager's
systemd unit here; on the kubeadm lab it lives in three static pods), so the apply's signature
check fails: every object is given back and its old signature verifies again. The rest (the dry
run's diffs, each field changed and recorded, a stale patch refused, an object changed by hand
stopping the uninstall, uninstall byte for byte) is proven on the kubeadm lab's own objects, by
kubeadm (tests/lab/retrofit/test_kubeadm_retrofit.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from tests.lab.environment.test_real_control_plane import kubectl, real_lab, wait_for  # noqa: F401
from tests.support.labkit import apply, lab_profile
from wizard.engine.api_objects import RECORD
from wizard.engine.apply import run_uninstall
from wizard.engine.model import ApplyOptions
from wizard.lab import Lab
from wizard.lab.control_plane import CLIENT_KUBECONFIGS
from wizard.profile import Clients
from wizard.render import build_plan
from wizard.retrofit import api_objects

pytestmark = pytest.mark.lab

M1 = "10.77.0.11:6443"
RESTART = "systemctl daemon-reload && systemctl restart kube-controller-manager"
TOKEN_ID, TOKEN_SECRET = "abcdef", "0123456789abcdef"
KUBE_PROXY_CONF = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://{M1}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"""
CLUSTER_CONFIGURATION = f"""apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta2
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controlPlaneEndpoint: {M1}
controllerManager: {{}}
dns:
  type: CoreDNS
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: k8s.gcr.io
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
scheduler: {{}}
"""


def objects_yaml(ca_b64: str) -> str:
    def block(text: str, indent: str = "    ") -> str:
        return "\n".join(indent + line if line else line for line in text.splitlines())

    cluster_info = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca_b64}
    server: https://{M1}
  name: ""
contexts: null
current-context: ""
kind: Config
preferences: {{}}
users: null
"""
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-proxy
  namespace: kube-system
  labels:
    app: kube-proxy
data:
  kubeconfig.conf: |-
{block(KUBE_PROXY_CONF)}
  config.conf: |-
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    clientConnection:
      kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
    mode: ""
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  labels:
    k8s-app: kube-proxy
  name: kube-proxy
  namespace: kube-system
spec:
  selector:
    matchLabels:
      k8s-app: kube-proxy
  updateStrategy:
    type: RollingUpdate
  template:
    metadata:
      labels:
        k8s-app: kube-proxy
    spec:
      priorityClassName: system-node-critical
      containers:
      - name: kube-proxy
        image: k8s.gcr.io/kube-proxy:v1.20.2
        imagePullPolicy: IfNotPresent
        command:
        - /usr/local/bin/kube-proxy
        - --config=/var/lib/kube-proxy/config.conf
        - --hostname-override=$(NODE_NAME)
        securityContext:
          privileged: true
        volumeMounts:
        - mountPath: /var/lib/kube-proxy
          name: kube-proxy
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
      hostNetwork: true
      serviceAccountName: kube-proxy
      volumes:
      - name: kube-proxy
        configMap:
          name: kube-proxy
      tolerations:
      - operator: Exists
      nodeSelector:
        kubernetes.io/os: linux
---
apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-{TOKEN_ID}
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  token-id: {TOKEN_ID}
  token-secret: {TOKEN_SECRET}
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-info
  namespace: kube-public
data:
  kubeconfig: |
{block(cluster_info)}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kubeadm-config
  namespace: kube-system
data:
  ClusterConfiguration: |
{block(CLUSTER_CONFIGURATION)}
"""


def get(lab: Lab, ref: api_objects.ObjectRef) -> dict:
    proc = kubectl(lab, "m1", "get", ref.resource, ref.name, "-n", ref.namespace, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def data_of(lab: Lab) -> dict[str, object]:
    """What kubeha may change: each ConfigMap's data, the DaemonSet's pod template."""
    found: dict[str, object] = {}
    for ref in api_objects.OBJECTS:
        found[ref.title] = get(lab, ref)["data"]
    found["template"] = get(lab, api_objects.KUBE_PROXY_DAEMONSET)["spec"]["template"]
    return found


def signed(lab: Lab) -> bool | str:
    data = get(lab, api_objects.CLUSTER_INFO)["data"]
    signature = data.get(f"jws-kubeconfig-{TOKEN_ID}")
    if signature is None:
        return "no signature yet"
    ok = api_objects.jws_valid(signature, data["kubeconfig"], TOKEN_ID, TOKEN_SECRET)
    return ok or "the signature does not verify"


@pytest.fixture(scope="module")
def kubeadm_objects(real_lab: Lab):  # noqa: F811
    m1 = "m1"
    script = (
        "cp -p /etc/kubernetes/admin.kubeconfig /etc/kubernetes/admin.conf && "
        "base64 -w0 /etc/kubernetes/ssl/ca.pem"
    )
    proc = real_lab.exec_in_node(m1, ["sh", "-c", script])
    assert proc.returncode == 0, proc.stderr
    text = objects_yaml(proc.stdout.strip())
    encoded = base64.b64encode(text.encode()).decode()
    make = f"echo {encoded} | base64 -d > /root/kubeadm-objects.yaml"
    assert real_lab.exec_in_node(m1, ["sh", "-c", make]).returncode == 0
    made = kubectl(real_lab, m1, "create", "-f", "/root/kubeadm-objects.yaml")
    assert made.returncode == 0, made.stderr
    # The real bootstrap signer signs cluster-info; kubeha's JWS check reads its signature.
    wait_for(lambda: signed(real_lab), 90, "the bootstrap signer's signature")
    yield real_lab
    run_uninstall(build_plan(profile_of(real_lab)), ApplyOptions(), lambda e: None)
    kubectl(real_lab, m1, "delete", "-f", "/root/kubeadm-objects.yaml", "--wait=false")
    real_lab.exec_in_node(m1, ["rm", "-f", "/etc/kubernetes/admin.conf", RECORD])


def profile_of(lab: Lab):
    profile = lab_profile(lab, "local-nginx")
    clients = Clients(repoint=True, kubeconfigs=CLIENT_KUBECONFIGS)
    return dataclasses.replace(profile, clients=clients)


def object_events(recorder, status: str | None = None):
    return [e for e in recorder.events if e.phase == "objects" and status in (None, e.status.value)]


def test_a_failed_apply_gives_every_object_back(kubeadm_objects: Lab):
    lab = kubeadm_objects
    profile = profile_of(lab)
    before = data_of(lab)

    # kube-controller-manager runs without its bootstrap signer, so the new kubeconfig is never
    # signed: every object this run changed is given back (and the old signature is valid again).
    unit = "/etc/systemd/system/kube-controller-manager.service"
    signer = "--controllers=*,bootstrapsigner,tokencleaner"
    pattern = signer.replace("*", "\\*")
    for m in lab.masters:
        without = f"sed -i 's/{pattern}/--controllers=*,tokencleaner/' {unit}"
        lab.exec_in_node(m.name, ["sh", "-c", f"{without} && {RESTART}"])
    try:
        summary, recorder = apply(profile, verify_timeout=15)
    finally:
        for m in lab.masters:
            back = f"sed -i 's/--controllers=\\*,tokencleaner/{signer}/' {unit}"
            lab.exec_in_node(m.name, ["sh", "-c", f"{back} && {RESTART}"])
            assert signer in lab.exec_in_node(m.name, ["cat", unit]).stdout
    assert all(n.ok for n in summary.nodes), recorder.text()
    assert not summary.ok
    failed = object_events(recorder, "failed")
    assert failed and "jws-kubeconfig-abcdef" in failed[0].message, recorder.text()
    assert "given back" in failed[0].message
    assert data_of(lab) == before
    assert signed(lab) is True
    assert lab.exec_in_node("m1", ["test", "-e", RECORD]).returncode == 1
