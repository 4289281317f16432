"""Every use of Textual's internals, in one place: its private attributes and the undocumented
behaviour the wizard leans on. No other module of ``screens/`` touches a ``_name`` of a Textual
object (``tests/screens/test_textual_compat.py`` scans for it and pins what each use relies on,
so a Textual upgrade that moves one fails there, by name, rather than as a changed screen).

- the help lists keys from the screen's binding chain (``Screen._modal_binding_chain``), asks
  whether each is enabled (``App._check_action_state``) and reads a widget's own bindings
  (``DOMNode._bindings``): ``binding_chain``, ``action_state``, ``own_bindings``;
- a kept step screen skips the restyle of every resume (``Screen._on_screen_resume`` runs our
  handler first; ``App._css_update_count`` / ``Screen._css_update_count``): ``KeepsStyles``;
- the footer rebuilds only when its keys change (``Footer.bindings_changed`` is what the
  screen's ``bindings_updated_signal`` calls; ``Footer._bindings_ready``): ``StepFooter``.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.app import App
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer

# The help ---------------------------------------------------------------------------------------


def binding_chain(screen: Screen) -> list[tuple[DOMNode, BindingsMap]]:
    """Textual's binding order from the focus out (widget, containers, screen, app), stopping at
    the last modal: every binding, where ``active_bindings`` keeps one per key."""
    return screen._modal_binding_chain


def action_state(app: App, action: str, node: DOMNode) -> bool | None:
    """``check_action`` of the node ``action`` names (``app.quit``: the App): True on, None
    shown greyed out, False hidden."""
    return app._check_action_state(action, node)


def own_bindings(node: DOMNode) -> Iterable[tuple[str, Binding]]:
    """A widget's own (key, binding) pairs, its BINDINGS merged with its bases'."""
    return node._bindings


# Kept screens -----------------------------------------------------------------------------------


class KeepsStyles(Screen):
    """Skips the full restyle Textual does on every resume when the app's CSS has not changed
    since the screen was last styled: a kept screen comes back as it left. After a theme change
    while it was away, it is restyled as usual."""

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # runs before Screen's own handler, which restyles only when refresh_styles is set
        current = self.app._css_update_count
        if self._css_update_count == current:
            event.refresh_styles = False
        self._css_update_count = current


# The footer -------------------------------------------------------------------------------------


class StepFooter(Footer):
    """Textual's Footer, rebuilt only when the keys it shows change.

    Textual's Footer recomposes (unmounts and mounts one widget per key) every time the
    screen's bindings are refreshed, which is every focus move: on the deploy screen that was
    most of a Tab press's cost. This one compares what it would show (key, label, enabled,
    tooltip) with what it shows and skips the rebuild when they are the same.
    """

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
