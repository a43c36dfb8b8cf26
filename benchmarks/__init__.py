"""Benchmarks of durable_sim (not tests): ``python -m benchmarks`` prints a table of figures."""
