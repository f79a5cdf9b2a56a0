"""Keeps the sample sites out of the suite's own collection.

They are pages and projects for tests/test_plugin.py to run in a pytester
folder; collected here, their Python fences would run outside their site.
"""

collect_ignore = ["site"]
