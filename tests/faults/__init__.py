"""Sample sites, Docker objects and layer readers for the fault matrix in tests/test_faults.py."""
