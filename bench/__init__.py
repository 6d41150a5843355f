"""Benchmarks (not tests): `python -m bench.model`, `python -m bench.e2e`. Each prints the machine, the
settings and medians over repeated runs, compares against a baseline measured in the same run, and ends
with one line of JSON."""
