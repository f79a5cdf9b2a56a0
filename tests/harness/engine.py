"""Finding the Docker engine, and the one line that says what to do when there is none."""

from __future__ import annotations

import os

import docker
import docker.errors

START_HINT = (
    "start it (on Debian: sudo provision/engine.sh), "
    "or leave out the tests that need it: pytest -m 'not docker'"
)


class EngineUnavailable(Exception):
    """No Docker engine answers; the message is one line saying how to start one."""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def upstream_socket() -> str:
    """The engine's socket path, for the harness's proxy to forward to."""
    address = engine_address()
    if not address.startswith("unix://"):
        raise EngineUnavailable(
            f"DOCKER_HOST is {address}; the docs harness needs a local unix socket to watch "
            "what the pages create: unset DOCKER_HOST or point it at unix:///path/to/docker.sock"
        )
    return address.removeprefix("unix://")


def connect(timeout: float = 10) -> docker.DockerClient:
    """A client of the engine that answers now, or EngineUnavailable."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as error:
        raise EngineUnavailable(
            f"no Docker engine answers at {engine_address()} ({_reason(error)}): {START_HINT}"
        ) from None
    return client


def _reason(error: Exception) -> str:
    """The cause in a few words, out of the SDK's nested connection errors."""
    text = str(error)
    for known in ("No such file or directory", "Connection refused", "Permission denied"):
        if known.lower() in text.lower():
            return known.lower()
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:120] if text else type(error).__name__
