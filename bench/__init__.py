"""kubeha's benchmarks on the lab: failover per strategy beside the seed guides' configs, deploy
wall time by node count, throughput and latency through each proxy, and the wizard's speed.

Run ``.venv/bin/python -m bench`` (root, the lab; writes docs/BENCHMARKS.md and docs/*.png) or
``--short`` for the quick run the tests do once.
"""
