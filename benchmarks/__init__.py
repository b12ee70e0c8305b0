"""Lingti's benchmark suite: every figure measured next to a floor of its own stack, in the same run.

Run it with `make bench` (full) or `make bench-quick`; see BENCHMARKS.md for the last full run.
"""
