"""The run's own phases, one module each, before and after the nodes: build (the strategy's
prepare step), the auth and certificate preflights, node jobs, nodes (through the pool, in
waves), cluster check, disconnect; the ordered lists in :mod:`wizard.engine.run_phases.order`.
Walked by the same runner as a node's phases (:func:`wizard.engine.runner.walk`); each writes
its own fields of the run (:class:`wizard.engine.run.Run`) and reports its own events; one that
stops the run raises :class:`~wizard.engine.phase.RunStopped`. Nothing is imported here.
"""
