"""One module per HA strategy, each a :class:`~wizard.strategies.base.Strategy` that turns a valid
profile into a RenderPlan and answers what the validator, the wizard and the engine ask of it;
``wizard.strategies.registry`` is the one list of them."""
