"""The project's tests: unit tests, the base images' contract and the docs harness."""
