"""The phases of a node's apply and uninstall, and of the run itself, one module each, the way
k0sctl's ``phase/`` holds them: each module has its ``PHASE`` (a
:class:`~wizard.engine.phase.Phase`: run, dry run, undo, applies) and a node's phase the frozen
record of what it found or did (a :class:`~wizard.engine.job.Record`). The ordered lists are in
:mod:`wizard.engine.phases.order` (a node's) and :mod:`wizard.engine.run_phases.order` (the
run's own: build, preflight, node jobs, nodes, cluster check, disconnect): a new phase is one
module here plus one line there (``tests/wizard/engine/test_phase_modules.py``).

A node's phase imports the job it works on (:mod:`wizard.engine.work`) and the records of the
phases it reads; never the job classes, the lists or another phase's functions. Nothing is
imported here: a module of this package importing a sibling would otherwise close a circle.
"""
