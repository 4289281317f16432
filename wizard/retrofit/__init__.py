"""Making an existing cluster HA: the pieces that repoint its clients (kubeconfigs) to the load
balancer and the certificate preflight that must pass before any of them changes."""
