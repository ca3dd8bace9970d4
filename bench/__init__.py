"""Benchmarks: each `bench_*.py` measures a Warmline path against its bare baseline in the same run."""
