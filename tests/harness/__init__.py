"""The docs harness: runs every block of every page against a real Docker engine."""
