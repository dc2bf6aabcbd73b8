"""Benchmark scripts (`python -m bench.<name>`): each prints where and how it ran, one table with its
baseline timed in the same run, and a headline line; results go to docs/BENCHMARKS.md."""
