"""``kubeha status``: what every node's balancer sees, read from each node's agent
(:mod:`wizard.agent`) in parallel. :mod:`wizard.status.fleet` reads and folds the scrapes
(UI-free, also ``--json``); ``screens/status.py`` paints them live."""
