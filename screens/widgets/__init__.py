"""Widgets the wizard's screens share: step bar, problem list, navigation, forms, node panes."""
