"""The mosaic benchmark: mosaic-hb against the bash heartbeat sidecar it
replaces, a minimal C loop (the floor) and the in-process binding.

Run from the repository root: ``python -m bench`` (``--help`` for options).
Results go to docs/benchmarks.md, which also explains the method.
"""
