"""Every subcommand of ``kubeha`` but the lab's: validate and render, apply and uninstall,
verify (and its drill), the wizard. Each reads its profile through :mod:`.loading`."""
