"""The engine proxy: both CLIs work through it, and clean-up removes exactly what the run made.

Everything here talks to the real engine. Each test makes its objects under
names of this run's own; containers and builds use no network, so that the
tests do not depend on the engine's default bridge.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import docker.errors
import h11
import pytest

from tests.harness.ledger import HOLD_REPOSITORY, short_id
from tests.harness.proxy import EngineProxy

pytestmark = pytest.mark.docker

CLI = "/usr/local/bin/docker"  # 28.x, the legacy builder
DEBIAN_CLI = "/usr/bin/docker"  # 20.10, BuildKit with DOCKER_BUILDKIT=1
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "ls", "wget", "httpd")
needs_debian_cli = pytest.mark.skipif(
    not Path(DEBIAN_CLI).is_file(),
    reason=f"needs Debian's 20.10 CLI at {DEBIAN_CLI} (apt-get install docker.io)",
)


@pytest.fixture(scope="module")
def unique() -> str:
    """A prefix, this module run's own, for the name of everything the tests make."""
    return f"dcht-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def busybox(engine, unique) -> str:
    """A tiny image holding only a static busybox, tagged for this run; removed at the end."""
    if not BUSYBOX.is_file():
        pytest.fail(
            f"needs Debian's static busybox at {BUSYBOX}: scripts/debian-packages installs it",
            pytrace=False,
        )

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repository = f"{unique}-busybox"
    engine.api.import_image_from_data(
        archive.getvalue(), repository=repository, tag="1", changes=['CMD ["sh"]']
    )

    yield f"{repository}:1"
    engine.api.remove_image(f"{repository}:1")


@pytest.fixture
def proxy(engine):
    """A running proxy; what its ledger still holds is cleaned up after the test."""
    with EngineProxy() as proxy:
        yield proxy
    report = proxy.ledger.cleanup(engine)
    assert report.problems == [], f"the test left objects behind: {report}"


@pytest.fixture
def context(tmp_path):
    """A function writing a Dockerfile into a fresh build context and returning its folder."""

    def write(dockerfile: str) -> str:
        folder = tmp_path / f"context-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        (folder / "Dockerfile").write_text(dockerfile)
        return str(folder)

    return write


def docker_cli(proxy, *args, cli=CLI, buildkit=False, stdin=None, check=True):
    """Run one docker command through `proxy`, as a page's shell would."""
    env = dict(os.environ, DOCKER_HOST=proxy.docker_host, DOCKER_BUILDKIT="1" if buildkit else "0")
    result = subprocess.run(
        [cli, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result


def image_id(engine, name: str) -> str:
    return engine.api.inspect_image(name)["Id"]


def gone(lookup, name: str) -> bool:
    try:
        lookup(name)
    except docker.errors.NotFound:
        return True
    return False


def test_a_normal_run_logs_no_warnings(engine, busybox, caplog):
    caplog.set_level(logging.WARNING)

    with EngineProxy() as proxy:
        docker_cli(proxy, "run", "--rm", "--network", "none", busybox, "true")
        kept_open = docker.APIClient(base_url=proxy.docker_host)
        kept_open.ping()
    kept_open.close()

    assert caplog.records == []


def test_the_proxy_listens_at_once_and_leaves_no_socket_behind(engine):
    started = time.monotonic()
    proxy = EngineProxy().start()
    took = time.monotonic() - started
    socket_path = proxy.socket_path

    try:
        assert took < 0.5, f"the proxy took {took:.2f}s to start"
        assert docker.APIClient(base_url=proxy.docker_host).ping()
    finally:
        proxy.close()

    assert not socket_path.exists()
    assert not socket_path.parent.exists()


def test_one_connection_carries_several_requests_head_included(proxy):
    client = h11.Connection(h11.CLIENT)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(proxy.socket_path))
        answers = []
        for method, target in [("HEAD", "/_ping"), ("GET", "/version"), ("GET", "/_ping")]:
            request = h11.Request(method=method, target=target, headers=[("Host", "docker")])
            sock.sendall(client.send(request) + client.send(h11.EndOfMessage()))
            answers.append(_read_response(client, sock))
            client.start_next_cycle()

    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1] == b""
    assert b"ApiVersion" in answers[1][1]
    assert answers[2][1] == b"OK"


def test_a_client_that_half_closes_still_gets_its_answer(proxy):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(proxy.socket_path))
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"ApiVersion"' in answer


def _read_response(client: h11.Connection, sock: socket.socket) -> tuple[int, bytes]:
    status, body = 0, b""
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, body


def test_the_28_cli_runs_attaches_execs_and_streams_through_the_proxy(proxy, busybox, unique):
    since = str(int(time.time()) - 1)
    name = f"{unique}-streams"

    hello = docker_cli(proxy, "run", "--rm", "--network", "none", busybox, "echo", "hello")
    echoed = docker_cli(
        proxy, "run", "-i", "--rm", "--network", "none", busybox, "cat", stdin="from stdin\n"
    )
    docker_cli(
        proxy, "run", "-d", "--network", "none", "--name", name, busybox,
        "sh", "-c", "echo one; sleep 2; echo two",
    )  # fmt: skip
    inside = docker_cli(proxy, "exec", name, "echo", "inside")
    logs = docker_cli(proxy, "logs", "-f", name)
    events = docker_cli(
        proxy, "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--filter", f"container={name}", "--format", "{{.Action}}",
    )  # fmt: skip
    docker_cli(proxy, "rm", "-f", name)

    assert hello.stdout == "hello\n"
    assert echoed.stdout == "from stdin\n"
    assert inside.stdout == "inside\n"
    assert logs.stdout == "one\ntwo\n"
    assert "create" in events.stdout.split()
    assert name not in proxy.ledger.containers.values()


def test_the_28_cli_builds_tags_and_removes_its_own_image(proxy, engine, busybox, unique, context):
    folder = context(f"FROM {busybox}\nRUN echo {unique}-legacy > /made\n")
    tag, second = f"{unique}-legacy:1", f"{unique}-legacy:2"

    docker_cli(proxy, "build", "--network", "none", "-t", tag, folder)
    docker_cli(proxy, "tag", tag, second)
    made = docker_cli(proxy, "run", "--rm", "--network", "none", second, "cat", "/made")
    docker_cli(proxy, "rmi", second)

    assert made.stdout == f"{unique}-legacy\n"
    assert image_id(engine, tag) in proxy.ledger.images
    assert list(proxy.ledger.tags) == [tag]


@needs_debian_cli
def test_the_20_cli_with_buildkit_builds_tags_and_removes_its_own_image(
    proxy, engine, busybox, unique, context
):
    folder = context(f"FROM {busybox}\nRUN echo {unique}-buildkit > /made\n")
    tag, second = f"{unique}-buildkit:1", f"{unique}-buildkit:2"

    built = docker_cli(
        proxy, "build", "--network", "none", "-t", tag, folder, cli=DEBIAN_CLI, buildkit=True
    )
    docker_cli(proxy, "tag", tag, second, cli=DEBIAN_CLI)
    docker_cli(
        proxy, "run", "--name", f"{unique}-bk", "--network", "none", second, "cat", "/made",
        cli=DEBIAN_CLI,
    )  # fmt: skip
    made = docker_cli(proxy, "logs", f"{unique}-bk", cli=DEBIAN_CLI)
    docker_cli(proxy, "rm", f"{unique}-bk", cli=DEBIAN_CLI)
    docker_cli(proxy, "rmi", second, cli=DEBIAN_CLI)

    assert "naming to docker.io/library/" in built.stderr, "the build did not use BuildKit"
    assert made.stdout == f"{unique}-buildkit\n"
    assert image_id(engine, tag) in proxy.ledger.images
    assert list(proxy.ledger.tags) == [tag]
    assert proxy.ledger.containers == {}


def test_cleanup_removes_every_kind_of_object_made_through_the_proxy(
    proxy, engine, busybox, unique, context
):
    name, network, volume, mounted = (f"{unique}-{what}" for what in ("c", "net", "vol", "mnt"))
    tag = f"{unique}-everything:1"
    docker_cli(
        proxy, "run", "-d", "--network", "none", "--name", name, "-v", f"{mounted}:/data",
        busybox, "sleep", "60",
    )  # fmt: skip
    docker_cli(proxy, "network", "create", network)
    docker_cli(proxy, "volume", "create", volume)
    folder = context(f"FROM {busybox}\nRUN echo {unique}-everything\n")
    docker_cli(proxy, "build", "--network", "none", "-t", tag, folder)
    docker_cli(proxy, "tag", tag, f"{unique}-everything:2")
    built = image_id(engine, tag)
    described = proxy.ledger.describe()

    report = proxy.ledger.cleanup(engine)

    for made in (f"container {name}", f"network {network}", volume, mounted, tag):
        assert made in described
    assert report.problems == []
    assert f"container {name}" in report.removed
    assert gone(engine.api.inspect_container, name)
    assert gone(engine.api.inspect_network, network)
    assert gone(engine.api.inspect_volume, volume)
    assert gone(engine.api.inspect_volume, mounted)
    assert gone(engine.api.inspect_image, built)
    assert gone(engine.api.inspect_image, f"{unique}-everything:2")
    assert proxy.ledger.describe() == "nothing recorded"


def test_a_failed_legacy_build_leaves_nothing_after_cleanup(
    proxy, engine, busybox, unique, context
):
    folder = context(f"FROM {busybox}\nRUN echo failing-{uuid.uuid4().hex} > /made\nRUN false\n")

    failed = docker_cli(
        proxy, "build", "--network", "none", "-t", f"{unique}-x:1", folder, check=False
    )
    left_images, left_containers = dict(proxy.ledger.images), dict(proxy.ledger.containers)
    report = proxy.ledger.cleanup(engine)

    assert failed.returncode != 0
    assert len(left_images) == 1, "the first step's image is not recorded"
    assert len(left_containers) == 1, "the failed step's container is not recorded"
    assert report.problems == []
    assert all(gone(engine.api.inspect_image, made) for made in left_images)
    assert all(gone(engine.api.inspect_container, made) for made in left_containers)


@pytest.fixture
def sentinels(engine, busybox, unique):
    """A function making a container, tag, volume and network directly on the engine."""
    made = []

    def make(label: str) -> dict[str, str]:
        names = {kind: f"{unique}-{label}-{kind}" for kind in ("container", "volume", "network")}
        names["image"] = f"{unique}-{label}-image:1"
        engine.containers.create(busybox, "sleep 60", name=names["container"], network_mode="none")
        engine.api.tag(busybox, *names["image"].split(":"))
        engine.volumes.create(names["volume"])
        engine.networks.create(names["network"])
        made.append(names)
        return names

    yield make
    for names in made:
        engine.api.remove_container(names["container"], force=True)
        engine.api.remove_image(names["image"])
        engine.api.remove_volume(names["volume"])
        engine.api.remove_network(names["network"])


def test_objects_made_outside_the_proxy_survive_it_and_its_cleanup(engine, busybox, sentinels):
    before = sentinels("before")
    with EngineProxy() as proxy:
        during = sentinels("during")
        refusals = []
        for names in (before, during):
            refusals += [
                docker_cli(proxy, "rm", "-f", names["container"], check=False),
                docker_cli(proxy, "stop", names["container"], check=False),
                docker_cli(proxy, "rmi", "-f", names["image"], check=False),
                docker_cli(proxy, "rmi", "-f", image_id(engine, names["image"]), check=False),
                docker_cli(proxy, "volume", "rm", names["volume"], check=False),
                docker_cli(proxy, "network", "rm", names["network"], check=False),
            ]
            # The engine answers a create of an existing volume with that volume.
            docker_cli(proxy, "volume", "create", names["volume"])
    report = proxy.ledger.cleanup(engine)

    for refusal in refusals:
        assert refusal.returncode != 0
        assert "the docs harness will not" in refusal.stderr
        assert "which existed before the run" in refusal.stderr
        assert "Use a name of the page's own" in refusal.stderr
    assert f'will not remove container "{before["container"]}"' in refusals[0].stderr
    assert f'will not stop container "{during["container"]}"' in refusals[7].stderr
    assert report.removed == report.problems == []
    for names in (before, during):
        engine.api.inspect_container(names["container"])
        engine.api.inspect_image(names["image"])
        engine.api.inspect_volume(names["volume"])
        engine.api.inspect_network(names["network"])


@pytest.mark.parametrize(
    "command",
    [
        ["container", "prune"],
        ["image", "prune"],
        ["network", "prune"],
        ["volume", "prune"],
        ["builder", "prune"],
    ],
    ids=lambda command: command[0],
)
def test_every_prune_is_refused(proxy, unique, command):
    # The filter matches nothing, so that a broken guard would prune nothing either.
    nothing = f"id={unique}" if command[0] == "builder" else f"label={unique}"

    refused = docker_cli(proxy, *command, "-f", "--filter", nothing, check=False)

    assert refused.returncode != 0
    assert f'the docs harness refuses "docker {command[0]} prune"' in refused.stderr


def test_a_user_tag_the_run_builds_over_is_put_back(proxy, engine, busybox, unique, context):
    ref = f"{unique}-app:0.1.0"
    engine.api.tag(busybox, *ref.split(":"))
    users = image_id(engine, busybox)

    folder = context(f"FROM {busybox}\nRUN echo {unique}-over\n")
    docker_cli(proxy, "build", "--network", "none", "-t", ref, folder)
    runs = image_id(engine, ref)
    report = proxy.ledger.cleanup(engine)

    try:
        assert runs != users
        assert report.restored == [f"{ref} -> {short_id(users)}"]
        assert image_id(engine, ref) == users
        assert gone(engine.api.inspect_image, runs)
    finally:
        engine.api.remove_image(ref)


def test_removing_a_tag_the_run_made_again_keeps_the_users_image(
    proxy, engine, busybox, unique, context
):
    ref = f"{unique}-again:1"
    folder = context(f"FROM {busybox}\nLABEL course.test={unique}\n")
    users, _ = engine.images.build(path=folder, tag=ref, rm=True)

    try:
        docker_cli(proxy, "build", "-t", ref, folder)
        rebuilt = image_id(engine, ref)
        removed = docker_cli(proxy, "rmi", ref)
        held = engine.api.inspect_image(users.id)["RepoTags"]
        report = proxy.ledger.cleanup(engine)

        assert rebuilt == users.id, "the build through the proxy did not reuse the user's image"
        assert removed.stdout.startswith(f"Untagged: {ref}")
        assert held == [f"{HOLD_REPOSITORY}:{short_id(users.id)}"]
        assert report.problems == []
        assert engine.api.inspect_image(users.id)["RepoTags"] == [ref]
    finally:
        engine.api.remove_image(users.id, force=True)


def test_removing_the_pages_image_spares_a_users_untagged_parent(
    proxy, engine, busybox, unique, context
):
    # The user's untagged image, with no children: what `docker build` without
    # -t leaves. The page's build reuses it as a cached step.
    step = f"RUN echo {unique}-users > /users\n"
    users, _ = engine.images.build(
        path=context(f"FROM {busybox}\n{step}"), network_mode="none", rm=True
    )
    folder = context(f"FROM {busybox}\n{step}RUN echo {unique}-pages > /pages\n")

    try:
        docker_cli(proxy, "build", "--network", "none", "-t", f"{unique}-child:1", folder)
        pages = engine.api.inspect_image(f"{unique}-child:1")
        removed = docker_cli(proxy, "rmi", f"{unique}-child:1")
        report = proxy.ledger.cleanup(engine)

        assert pages["Parent"] == users.id, "the page's build did not reuse the user's image"
        assert f"Deleted: {pages['Id']}" in removed.stdout
        assert users.id not in removed.stdout
        assert report.problems == []
        engine.api.inspect_image(users.id)
    finally:
        engine.api.remove_image(users.id)


def test_cleanup_a_second_time_does_nothing(proxy, engine, busybox, unique):
    docker_cli(proxy, "create", "--network", "none", "--name", f"{unique}-twice", busybox)

    first = proxy.ledger.cleanup(engine)
    second = proxy.ledger.cleanup(engine)

    assert first.removed == [f"container {unique}-twice"]
    assert (second.removed, second.restored, second.problems) == ([], [], [])
    assert str(second) == "nothing to remove"


def test_cleanup_since_a_mark_removes_only_what_came_after_it(proxy, engine, busybox, unique):
    docker_cli(proxy, "create", "--network", "none", "--name", f"{unique}-early", busybox)
    mark = proxy.ledger.mark()
    docker_cli(proxy, "create", "--network", "none", "--name", f"{unique}-late", busybox)

    report = proxy.ledger.cleanup(engine, since=mark)

    assert report.removed == [f"container {unique}-late"]
    assert list(proxy.ledger.containers.values()) == [f"{unique}-early"]


@pytest.fixture
def registry(proxy, engine):
    """A registry:2 container run through the proxy, as a page runs one, on a free port."""
    if not engine.images.list(name="registry:2"):
        pytest.fail(
            "needs the registry:2 image: python -m provision images pulls it or builds a stand-in",
            pytrace=False,
        )

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    docker_cli(
        proxy, "run", "-d", "--network", "host", "-e", f"REGISTRY_HTTP_ADDR={address}",
        "registry:2",
    )  # fmt: skip

    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=1).close()
            return address
        except OSError:
            assert time.monotonic() < deadline, f"registry:2 did not answer at {address}"
            time.sleep(0.1)


def test_push_and_pull_go_through_and_only_new_pulls_are_recorded(
    proxy, engine, busybox, unique, registry
):
    users = f"{registry}/{unique}/mine:1"
    pages = f"{registry}/{unique}/page:1"
    engine.api.tag(busybox, *users.rsplit(":", 1))
    pushed = engine.api.push(users, stream=True, decode=True)
    assert not [line["error"] for line in pushed if "error" in line]

    try:
        docker_cli(proxy, "pull", users)
        tags_after_existing_pull = dict(proxy.ledger.tags)
        docker_cli(proxy, "tag", busybox, pages)
        docker_cli(proxy, "push", pages)
        docker_cli(proxy, "rmi", pages)
        docker_cli(proxy, "pull", pages)
        tags_after_new_pull = dict(proxy.ledger.tags)
        report = proxy.ledger.cleanup(engine)

        assert tags_after_existing_pull == {}
        assert tags_after_new_pull == {pages: image_id(engine, busybox)}
        assert report.problems == []
        assert gone(engine.api.inspect_image, pages)
        assert image_id(engine, users) == image_id(engine, busybox)
    finally:
        engine.api.remove_image(users)
