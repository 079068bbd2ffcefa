"""Helpers that import none of hepwatch's apps: bulk writes with their audit history (bulk.py),
and starting the app's processes for the tests and the benchmark (processes.py)."""
