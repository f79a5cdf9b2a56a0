"""The contract the course's pages rely on from its three base images.

It runs against whatever is tagged python:3.11-slim-bookworm,
python:3.11-bookworm and registry:2 on the engine: the official images where
Docker Hub was reachable, the stand-ins of `python -m provision images`
where it was not. Both must pass it unchanged.
"""

import time
import urllib.error
import urllib.request

import docker
import pytest

pytestmark = pytest.mark.docker

SLIM = "python:3.11-slim-bookworm"
FULL = "python:3.11-bookworm"
REGISTRY = "registry:2"
PYTHON_IMAGES = pytest.mark.parametrize("tag", [SLIM, FULL], ids=["slim", "full"])

SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"
REGISTRY_DEADLINE_SECONDS = 30


def image(engine: docker.DockerClient, tag: str) -> docker.models.images.Image:
    try:
        return engine.images.get(tag)
    except docker.errors.ImageNotFound:
        pass
    pytest.fail(
        f"{tag} is not on this engine; make it with python -m provision images", pytrace=False
    )


def run(engine: docker.DockerClient, tag: str, script: str, timeout: int = 120) -> tuple[int, str]:
    """Run a shell script in a throw-away container; its exit status and output."""
    image(engine, tag)
    container = engine.containers.create(tag, ["sh", "-c", script])
    try:
        container.start()
        status = container.wait(timeout=timeout)["StatusCode"]
        return status, container.logs().decode()
    finally:
        container.remove(force=True, v=True)


def environment(engine: docker.DockerClient, tag: str) -> dict[str, str]:
    pairs = image(engine, tag).attrs["Config"]["Env"] or []
    return dict(pair.split("=", 1) for pair in pairs)


@PYTHON_IMAGES
def test_python_pip_and_friends_are_first_on_path_in_usr_local_bin(engine, tag):
    names = ("python", "python3", "pip", "pip3", "pydoc")

    status, output = run(engine, tag, f"for name in {' '.join(names)}; do command -v $name; done")

    assert status == 0, output
    assert output.split() == [f"/usr/local/bin/{name}" for name in names]
    assert environment(engine, tag)["PATH"].startswith("/usr/local/bin:")


@PYTHON_IMAGES
def test_image_sets_lang_python_version_and_runs_python3(engine, tag):
    config = image(engine, tag).attrs["Config"]
    env = environment(engine, tag)

    assert env["LANG"] == "C.UTF-8"
    assert env["PYTHON_VERSION"].startswith("3.11.")
    assert config["Cmd"] == ["python3"]


@PYTHON_IMAGES
def test_site_packages_is_under_usr_local(engine, tag):
    script = "python -c \"import sysconfig; print(sysconfig.get_paths()['purelib'])\""

    status, output = run(engine, tag, script)

    assert (status, output.strip()) == (0, SITE_PACKAGES)


@PYTHON_IMAGES
def test_python_is_not_marked_externally_managed(engine, tag):
    script = (
        'python -c "import os, sysconfig; '
        "print(os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))\""
    )

    status, output = run(engine, tag, script)

    assert (status, output.strip()) == (0, "False"), "pip would refuse to install system-wide"


@PYTHON_IMAGES
def test_pip_installs_a_wheel_from_pypi_system_wide(engine, tag):
    script = (
        "pip install --no-cache-dir --disable-pip-version-check --quiet six"
        ' && python -c "import six; print(six.__file__)"'
    )

    status, output = run(engine, tag, script, timeout=180)

    assert status == 0, f"pip install six failed in {tag}:\n{output}"
    assert output.strip().splitlines()[-1] == f"{SITE_PACKAGES}/six.py"


def test_slim_has_no_compiler_and_no_curl(engine):
    status, output = run(engine, SLIM, "for tool in gcc cc curl; do command -v $tool; done; true")

    assert (status, output.strip()) == (0, ""), f"{SLIM} should not carry: {output.split()}"


def test_full_compiles_c_against_the_python_headers(engine):
    script = (
        "printf '#include <Python.h>\\nint main(void) { return Py_IsInitialized(); }\\n'"
        " > /tmp/probe.c"
        " && gcc -fsyntax-only -I/usr/local/include/python3.11 /tmp/probe.c"
        " && curl --version >/dev/null && git --version >/dev/null"
    )

    status, output = run(engine, FULL, script)

    assert status == 0, f"{FULL} lacks gcc, Python.h, curl or git:\n{output}"


def test_registry_declares_port_5000_and_its_storage_volume(engine):
    config = image(engine, REGISTRY).attrs["Config"]

    assert "5000/tcp" in config["ExposedPorts"]
    assert "/var/lib/registry" in config["Volumes"]


def test_registry_answers_v2_with_200_on_its_port(engine):
    image(engine, REGISTRY)
    container = engine.containers.run(
        REGISTRY, detach=True, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
        status = poll_status(f"http://127.0.0.1:{port}/v2/", REGISTRY_DEADLINE_SECONDS)
        assert status == 200, f"GET /v2/ gave {status}; registry log:\n{container.logs().decode()}"
    finally:
        container.remove(force=True, v=True)


def poll_status(url: str, deadline_seconds: float) -> int | str:
    """The HTTP status of url once it answers, or the last error at the deadline."""
    # No proxy for a loopback address, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + deadline_seconds
    last = "no answer"

    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError as error:
            last = f"no answer within {deadline_seconds} s ({error})"
            time.sleep(0.3)
    return last
