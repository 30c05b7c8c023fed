"""Benchmarks of the handler path against hand-written and library baselines (``make bench``)."""
