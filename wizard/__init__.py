"""kubeha's UI-free core: profiles, validation, rendering, the deploy engine, the lab and the CLI.

Nothing in this package imports Textual; the wizard's screens live in ``screens/``.
"""

__version__ = "0.2.0"
