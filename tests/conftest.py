"""Fixtures shared by the tests that talk to the Docker engine."""

import docker
import pytest

from tests.harness.engine import EngineUnavailable, connect


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """A client of the engine itself; without one, each test errors saying how to start it."""
    try:
        return connect()
    except EngineUnavailable as error:
        unavailable = str(error)
    # Failing outside the except clause keeps the report to this one line.
    pytest.fail(unavailable, pytrace=False)
