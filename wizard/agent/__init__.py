"""kubeha's node agent (issue 25): the program beside each node's load balancer that learns the
apiservers from the cluster, keeps the balancer's list of masters current without dropping a
connection, and tells the operator what this node sees (Prometheus metrics, ``/healthz``).

It runs on the nodes with the node's own ``python3`` and nothing else: every module of this
package imports the standard library and this package only (``tests/agent/test_agent_imports.py``
holds it to that), so kubeha ships it as one zip application. It runs on python3 3.9 and later (Debian 11, Ubuntu
22.04, RHEL 9 ship 3.9 to 3.10): no syntax or library call newer than that (the same test holds
it to that as far as a test can).

The rules the list follows live in :mod:`wizard.agent.roster`, the time they wait before acting
in :mod:`wizard.agent.settle`; what the cluster says is read by :mod:`wizard.agent.endpoints`;
what the node reports is written by :mod:`wizard.agent.metrics`.
"""

# Where a node's agent serves /metrics and /healthz unless the profile says otherwise (kubespray's
# nginx-proxy serves its healthz on 8081; this one is kubeha's own, free in kubeadm's port list).
DEFAULT_PORT = 9446
