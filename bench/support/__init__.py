"""Shared parts of the benchmarks (imported by ``bench/*.py`` and by tests, never run alone)."""
