"""kube-nginx from source, as the operators' guides do: fetch the source, build a stream-only
nginx on the operator's machine or on one node, check it, cache it, and hand it to the engine
to distribute as ``<prefix>/sbin/kube-nginx``."""
