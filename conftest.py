"""Loads the docs harness, so that `pytest` runs the pages and `pytest docs/PAGE.md` one page."""

pytest_plugins = ["tests.harness.plugin"]
