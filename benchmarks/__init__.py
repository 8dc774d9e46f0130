"""Benchmarks of the provider (run ``python benchmarks/contention.py``; see ``benchmarks/README.md``)."""
