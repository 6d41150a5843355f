"""Synthetic financial news for the demo, the benchmarks and the tests (not part of the daemon):
`newsgen.headlines` (a stream of headlines and a few broken messages) and `newsgen.surges` (seasonal weeks
with injected surges of negative news, and the scoring of a detector against them)."""
