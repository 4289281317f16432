"""Subcommands of ``kubeha`` that work on profiles: validate, render."""
