"""Benchmarks (run as scripts, e.g. `python benchmarks/indexing.py`); not part of the installed packages."""
