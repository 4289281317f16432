"""The deploy engine. A run (:mod:`.apply`) walks its own phases in order (:mod:`.run_phases`):
the strategy's build, the auth and certificate preflights, the node jobs, the nodes in waves
through a bounded pool (:mod:`.pool`), the cluster check, disconnect. Each node's job walks its
list of phases (:mod:`.phases`, one module each, the lists in :mod:`.phases.order`) with the
same runner (:mod:`.runner`), each phase keeping its own record (:class:`.job.Record`),
reporting typed events to sinks (:mod:`.events`). The engine applies a rendered plan it is
given; it never imports Textual, the screens or the lab."""
