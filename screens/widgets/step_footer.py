"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (unmounts and mounts one widget per key) every time the screen's
bindings are refreshed, which is every focus move: on the deploy screen that was most of a Tab
press's cost. This one compares what it would show (key, label, enabled, tooltip) with what it
shows and skips the rebuild when they are the same.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class StepFooter(Footer):
    _shown: tuple | None = None

    def shows(self, screen: Screen) -> tuple:
        """What the footer would show for ``screen``'s active bindings, comparable."""
        return tuple(
            (binding.key, binding.description, binding.action, enabled, tooltip)
            for (_, binding, enabled, tooltip) in screen.active_bindings.values()
            if binding.show or binding.action == "command_palette"
        )

    def bindings_changed(self, screen: Screen) -> None:
        shows = self.shows(screen)
        if self._bindings_ready and shows == self._shown and self.children:
            return
        self._shown = shows
        super().bindings_changed(screen)
