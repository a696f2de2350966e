"""Helpers of ``bench/run.py``: the hcserver benchmark (see ``bench/README.md``)."""
