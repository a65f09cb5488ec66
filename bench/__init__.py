"""Benchmarks: figures read, never asserted; each beside a baseline measured in the same run."""
