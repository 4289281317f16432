"""The deploy engine. A run (:mod:`.apply`) walks its run-level steps in order: the kube-nginx
build, the node jobs, the nodes in waves through a bounded pool (:mod:`.pool`), the cluster
check, disconnect. Each node's job walks its list of phases (:mod:`.phase`; ``APPLY`` in
:mod:`.apply_phases`, ``UNINSTALL`` in :mod:`.uninstall_job`) with one runner (:mod:`.runner`),
reporting typed events to sinks (:mod:`.events`). The engine applies a rendered plan it is
given; it never imports Textual, the screens or the lab."""
