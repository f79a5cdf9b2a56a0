"""The sample app, without Docker: its answers, and how it starts and stops under waitress."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SAMPLE_APP = Path(__file__).resolve().parent.parent / "sample_app"

# `docker stop` waits 10 s before it kills; the app must be gone well before.
STOP_DEADLINE_SECONDS = 2.0
START_DEADLINE_SECONDS = 15.0


@pytest.fixture(scope="module")
def main_module():
    """sample_app/main.py, imported without leaving bytecode in sample_app/."""
    spec = importlib.util.spec_from_file_location("simple_app_main", SAMPLE_APP / "main.py")
    module = importlib.util.module_from_spec(spec)
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


@pytest.fixture
def client(main_module):
    """A Flask test client of the app as version 1.2.3."""
    return main_module.create_app("1.2.3").test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, response.read().decode()


@pytest.fixture
def served(request):
    """main.py run as `python main.py` under waitress on a free port; yields (process, base URL)."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PYTHONDONTWRITEBYTECODE": "1",
        **getattr(request, "param", {}),
    }
    if "APP_VERSION" not in getattr(request, "param", {}):
        env.pop("APP_VERSION", None)
    process = subprocess.Popen(
        [sys.executable, "main.py"],
        cwd=SAMPLE_APP,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()


def wait_until_healthy(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read()
            pytest.fail(f"main.py exited with {process.returncode} before answering:\n{output}")
        try:
            if get(f"{base}/healthz") == (200, "ok"):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"main.py did not answer {base}/healthz within {START_DEADLINE_SECONDS:g} s")


def test_greeting_names_the_version(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.text == "Hello from simple-app 1.2.3!\n"
    assert response.mimetype == "text/plain"


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.text == "ok"


def test_unknown_path_is_not_found(client):
    assert client.get("/nothing").status_code == 404


def test_served_app_reports_dev_without_app_version(served):
    _, base = served

    assert get(f"{base}/") == (200, "Hello from simple-app dev!\n")


@pytest.mark.parametrize("served", [{"APP_VERSION": "9.9.9"}], indirect=True)
def test_served_app_reports_app_version_from_the_environment(served):
    _, base = served

    assert get(f"{base}/") == (200, "Hello from simple-app 9.9.9!\n")


def test_sigterm_stops_the_server_promptly_and_cleanly(served):
    process, _ = served

    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=10)
    took = time.monotonic() - sent

    assert status == 0, process.stdout.read()
    assert took < STOP_DEADLINE_SECONDS, f"main.py took {took:.1f} s to stop after SIGTERM"


def test_log_says_where_it_serves_and_why_it_stopped(served):
    process, base = served
    port = base.rsplit(":", 1)[1]

    process.send_signal(signal.SIGTERM)
    output = process.stdout.read()

    assert f"waitress: Serving on http://0.0.0.0:{port}" in output
    assert "simple-app: SIGTERM received, stopping" in output
