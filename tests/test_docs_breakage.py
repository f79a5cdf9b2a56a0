"""Breaking the course on purpose: the real pages fail at the line to fix, and leave nothing.

Each test copies the site (mkdocs.yml, docs/, macros/, sample_app/, and
pyproject.toml for pytest's settings) into its own folder, breaks one thing
there, and runs the harness on the copy, in a pytest process of its own,
against the real engine. It runs only the broken page and the pages it
requires.

Around every run the engine's containers, images, networks and volumes are
listed, and the run talks to the engine through a socket that keeps what
passes: nothing the run made is left, whether it passed or failed, nothing
that was there before was removed by it, and a user's sentinel objects made
before it, one of them tagged as Exercise 1's image, are there as they were.
Other users of the engine may make and remove objects meanwhile; what the
run never asked for nor was told it made is theirs.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import docker
import docker.errors
import pytest

from tests.harness.engine import upstream_socket

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
COURSE = ("mkdocs.yml", "pyproject.toml", "docs", "macros", "sample_app")
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")

# Every run of the real pages takes this lock, since they publish 8080 and
# 5000 (see the helpers' brief, and `flock /tmp/docs-ports.lock ...`).
PORTS_LOCK = Path("/tmp/docs-ports.lock")
LOCK_PATIENCE_SECONDS = 30 * 60

# A run that takes longer than this is stuck, not slow: a cold build of both
# images takes about a minute on this machine.
RUN_DEADLINE_SECONDS = 20 * 60

# A full object ID, which is also how the engine names an anonymous volume.
FULL_ID = re.compile(r"[0-9a-f]{64}")

# The tag the user's own image has before the run, the one Exercise 1 builds.
USERS_TAG = "simple-app:0.1.0"

# A JUnit test case's first child says how it ended; none means it passed.
JUNIT_OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}


@dataclass(frozen=True)
class Outcome:
    """What became of one block in a run: where it is, and how it ended."""

    page: str
    line: int
    outcome: str
    message: str = ""

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


@dataclass(frozen=True)
class Run:
    """One run of the harness on the copy: its exit status, output, time and block outcomes."""

    status: int
    output: str
    seconds: float
    blocks: tuple[Outcome, ...]

    def failures(self) -> list[Outcome]:
        return [block for block in self.blocks if block.outcome in ("failed", "error")]

    def after(self, page: str, line: int) -> list[Outcome]:
        """The blocks that come after docs/`page`:`line` in the run's order."""
        index = next(i for i, b in enumerate(self.blocks) if (b.page, b.line) == (page, line))
        return list(self.blocks[index + 1 :])

    def before(self, page: str, line: int) -> list[Outcome]:
        index = next(i for i, b in enumerate(self.blocks) if (b.page, b.line) == (page, line))
        return list(self.blocks[:index])


@dataclass
class CourseCopy:
    """A copy of the course in a folder of its own, to break and run."""

    root: Path
    report: Path

    def edit(self, path: str, old: str, new: str) -> None:
        """Replace the one occurrence of `old` in the copy's `path` by `new`."""
        file = self.root / path
        text = file.read_text(encoding="utf-8")
        assert text.count(old) == 1, (
            f"{path} holds {old!r} {text.count(old)} times, not once: "
            "update this test to the page as it is now"
        )
        file.write_text(text.replace(old, new), encoding="utf-8")

    def fence(self, page: str, text: str) -> int:
        """The line of the fence that opens the first block of docs/`page` holding `text`."""
        lines = (self.root / "docs" / page).read_text(encoding="utf-8").splitlines()
        opened = None
        for number, line in enumerate(lines, start=1):
            if line.lstrip().startswith("```"):
                opened = number if opened is None else None
            elif opened is not None and text in line:
                return opened
        raise AssertionError(f"no block of docs/{page} holds {text!r}")

    def run(self, page: str, recorder: EngineRecorder) -> Run:
        """Run docs/`page` alone (with the pages it requires) on the copy, through `recorder`."""
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.harness.plugin",
            "-p",
            "no:cacheprovider",
            "--docs-config",
            str(self.root / "mkdocs.yml"),
            f"--junitxml={self.report}",
            "-q",
            f"docs/{page}",
        ]
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "DOCKER_HOST": recorder.docker_host}
        environment.pop("PYTEST_ADDOPTS", None)

        started = time.monotonic()
        finished = subprocess.run(
            command,
            cwd=self.root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_DEADLINE_SECONDS,
            check=False,
        )
        seconds = time.monotonic() - started

        output = finished.stdout + finished.stderr
        return Run(finished.returncode, output, seconds, read_outcomes(self.report, output))


def read_outcomes(report: Path, output: str) -> tuple[Outcome, ...]:
    """The outcome of every page block in a JUnit report, in the order they ran."""
    assert report.is_file(), f"the run wrote no report; its output:\n{output}"
    outcomes = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        page = case.get("classname", "").removeprefix("docs.")
        name = case.get("name", "")
        if not name.startswith("line-"):
            continue
        child = next(iter(case), None)
        outcome = "passed" if child is None else JUNIT_OUTCOMES.get(child.tag, child.tag)
        message = "" if child is None else (child.get("message") or "") + "\n" + (child.text or "")
        outcomes.append(Outcome(page, int(name.removeprefix("line-")), outcome, message))
    return tuple(outcomes)


@contextmanager
def ports_lock() -> Iterator[None]:
    """Hold /tmp/docs-ports.lock, unless a process this one runs under holds it already."""
    with open(PORTS_LOCK, "a") as handle:
        if _held_by_an_ancestor(handle):
            # `flock /tmp/docs-ports.lock pytest ...`: the lock is ours already,
            # and waiting for it would wait for ourselves.
            yield
            return

        deadline = time.monotonic() + LOCK_PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{PORTS_LOCK} stayed taken for {LOCK_PATIENCE_SECONDS / 60:.0f} "
                        f"minutes (by process {_lock_holders(handle) or 'unknown'}); "
                        "another run of the pages may be stuck",
                        pytrace=False,
                    )
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_holders(handle) -> set[int]:
    """The processes holding a flock on the open file `handle`, from /proc/locks."""
    inode = os.fstat(handle.fileno()).st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:131073 0 EOF"
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            holders.add(int(fields[4]))
    return holders


def _held_by_an_ancestor(handle) -> bool:
    holders = _lock_holders(handle)
    pid = os.getppid()
    while pid > 1:
        if pid in holders:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


@dataclass(frozen=True)
class Sentinels:
    """A user's objects from before a run: an image with Exercise 1's tag, a container, a volume."""

    image: str
    container: str
    volume: str


class EngineRecorder:
    """A socket between a run and the engine that keeps what passes, either way.

    It tells the run's objects from those of other users of the engine, of
    whom there may be several while a test runs, by what the run said: the
    requests name what it used and removed, and the answers to its creating
    calls and builds carry the IDs of what it made. Answers in general do
    not count, since a listing names everybody's objects.
    """

    def __init__(self, path: Path, upstream: str):
        self.path = path
        self._upstream = upstream
        self._sent = bytearray()
        self._answered = bytearray()
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(str(path))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def named(self, object_id: str, labels: tuple[str, ...]) -> bool:
        """Whether a request of the run named the object, by ID, name or tag."""
        words = [short(object_id), *labels, *(quote(label, safe="") for label in labels)]
        with self._lock:
            sent = bytes(self._sent)
        return any(word.encode() in sent for word in words)

    def made(self, object_id: str) -> bool:
        """Whether an answer to the run gave this object's ID as something just made."""
        full, brief = object_id.removeprefix("sha256:"), short(object_id)
        forms = [
            f'"Id":"{full}","Warning',  # containers/create, networks/create
            f'"Id":"sha256:{full}"',  # commit
            f"---\\u003e {brief}",  # each step of a legacy build, ">" as JSON writes it
            f"---> {brief}",
            f"Running in {brief}",  # a legacy build's step container
            f"Successfully built {brief}",
        ]
        with self._lock:
            answered = bytes(self._answered)
        return any(form.encode() in answered for form in forms)

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self._upstream)
            threading.Thread(target=self._connection, args=(client, engine), daemon=True).start()

    def _connection(self, client: socket.socket, engine: socket.socket) -> None:
        # Both ways at once: a hijacked `docker exec` or `attach` talks in both.
        back = threading.Thread(target=self._pump, args=(engine, client, self._answered))
        back.start()
        self._pump(client, engine, self._sent)
        back.join()
        client.close()
        engine.close()

    def _pump(self, source: socket.socket, target: socket.socket, kept: bytearray) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    kept += chunk
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                target.shutdown(socket.SHUT_WR)


def engine_objects(client: docker.DockerClient) -> dict[str, dict[str, tuple[str, ...]]]:
    """Every container, image, network and volume on the engine now: ID to names or tags."""
    api = client.api
    return {
        "containers": {
            entry["Id"]: tuple(name.lstrip("/") for name in entry.get("Names") or ())
            for entry in api.containers(all=True)
        },
        "images": {
            entry["Id"]: tuple(entry.get("RepoTags") or ()) for entry in api.images(all=True)
        },
        "networks": {entry["Id"]: (entry["Name"],) for entry in api.networks()},
        "volumes": {entry["Name"]: () for entry in api.volumes().get("Volumes") or ()},
    }


def short(object_id: str) -> str:
    """An object as Docker's output names it: 12 hex digits of an ID, or a volume's name."""
    digits = object_id.removeprefix("sha256:")
    return digits[:12] if FULL_ID.fullmatch(digits) else object_id


def assert_run_kept_the_engine(client, before, recorder: EngineRecorder, run: Run) -> None:
    """The run left nothing it made, and removed nothing that was there before it."""
    after = engine_objects(client)
    problems = []
    for kind in before:
        # An anonymous volume, made by the engine for a container's VOLUME,
        # appears in no answer, so each new one counts as the run's.
        left = {
            object_id: labels
            for object_id, labels in after[kind].items()
            if object_id not in before[kind]
            and (
                recorder.made(object_id)
                or recorder.named(object_id, labels)
                or (kind == "volumes" and FULL_ID.fullmatch(object_id))
            )
        }
        gone = {
            object_id: labels
            for object_id, labels in before[kind].items()
            if object_id not in after[kind] and recorder.named(object_id, labels)
        }
        if left:
            problems.append(f"the run left {kind}: {described(left)}")
        if gone:
            problems.append(f"the run removed {kind} that were there before it: {described(gone)}")
    assert not problems, "\n".join(problems) + f"\nthe run's output ends:\n{run.output[-3000:]}"


def described(objects: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(
        f"{short(object_id)} ({', '.join(labels) or 'no name'})"
        for object_id, labels in sorted(objects.items())
    )


@pytest.fixture
def course(tmp_path) -> CourseCopy:
    """The course copied into a folder of this test's own, with nothing built from it yet."""
    root = tmp_path / "course"
    root.mkdir()
    for name in COURSE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=NOT_COPIED)
        else:
            shutil.copy2(source, root / name)
    return CourseCopy(root, tmp_path / "report.xml")


@pytest.fixture
def recorder(engine, tmp_path) -> Iterator[EngineRecorder]:
    """The socket a run talks to the engine through, keeping what passes."""
    recording = EngineRecorder(tmp_path / "engine.sock", upstream_socket())
    yield recording
    recording.close()


@pytest.fixture
def ports() -> Iterator[None]:
    """The ports lock, held for the whole test: no other run of the pages meanwhile.

    So no other run takes 8080 and 5000, or moves the sentinel image's tag.
    """
    with ports_lock():
        yield


@pytest.fixture
def sentinels(engine, ports) -> Iterator[Sentinels]:
    """A user's image tagged as the one Exercise 1 builds, a container of it and a volume.

    Removed by ID at the end.
    """
    unique = f"course-sentinel-{uuid.uuid4().hex[:8]}"
    recipe = f"FROM scratch\nLABEL course.sentinel={unique}\n".encode()
    image, _ = engine.images.build(fileobj=io.BytesIO(recipe), rm=True)
    image.tag(*USERS_TAG.split(":"))
    container = engine.containers.create(image.id, command=["/sentinel"], name=unique)
    volume = engine.volumes.create(name=unique)
    try:
        yield Sentinels(image.id, container.id, volume.id)
    finally:
        for remove in (
            lambda: engine.api.remove_container(container.id, force=True),
            lambda: engine.api.remove_volume(volume.id),
            lambda: engine.api.remove_image(image.id, force=True),
        ):
            with suppress(docker.errors.NotFound):
                remove()


def assert_sentinels_survived(engine, sentinels: Sentinels) -> None:
    assert engine.api.inspect_container(sentinels.container)["Id"] == sentinels.container
    assert engine.api.inspect_volume(sentinels.volume)["Name"] == sentinels.volume
    image = engine.api.inspect_image(sentinels.image)
    assert USERS_TAG in image["RepoTags"], (
        f"the user's image {sentinels.image[:19]} lost its tag {USERS_TAG}: "
        f"it has {image['RepoTags']}"
    )


def assert_fails_only_at(run: Run, page: str, line: int) -> Outcome:
    """The run failed at docs/`page`:`line` alone; every block after it was not run for it."""
    failures = run.failures()
    assert [f.where for f in failures] == [f"docs/{page}:{line}"], run.output[-3000:]
    assert run.status == pytest.ExitCode.TESTS_FAILED

    reason = f"not run: docs/{page}:{line} failed before it"
    later = run.after(page, line)
    assert later, f"nothing comes after docs/{page}:{line}, so the test shows nothing"
    for block in later:
        assert block.outcome == "skipped" and reason in block.message, block
    assert all(block.outcome in ("passed", "skipped") for block in run.before(page, line))
    return failures[0]


def test_a_typo_in_a_docker_command_fails_at_its_line_and_nothing_after_it_runs(
    engine, course, sentinels, recorder, record_property
):
    course.edit(
        "docs/exercise-1.md",
        "\ndocker logs {{ container_single }}\n",
        "\ndocker log {{ container_single }}\n",
    )
    line = course.fence("exercise-1.md", "docker log ")
    before = engine_objects(engine)

    run = course.run("exercise-1.md", recorder)
    record_property("seconds", round(run.seconds, 1))

    failure = assert_fails_only_at(run, "exercise-1.md", line)
    assert "docker log simple-app" in failure.message
    assert "exited with status 1" in failure.message
    assert_run_kept_the_engine(engine, before, recorder, run)
    assert_sentinels_survived(engine, sentinels)


def test_a_broken_dockerfile_fails_at_the_build_command_of_exercise_2(
    engine, course, sentinels, recorder, record_property
):
    course.edit("sample_app/Dockerfile.multi", "COPY main.py .", "COPY app.py .")
    line = course.fence("exercise-2.md", "docker build -f Dockerfile.multi")
    before = engine_objects(engine)

    run = course.run("exercise-2.md", recorder)
    record_property("seconds", round(run.seconds, 1))

    assert {block.page for block in run.blocks} == {"exercise-1.md", "exercise-2.md"}
    failure = assert_fails_only_at(run, "exercise-2.md", line)
    assert "app.py" in failure.message, "the output's tail does not name the missing file"
    assert_run_kept_the_engine(engine, before, recorder, run)
    assert_sentinels_survived(engine, sentinels)


def test_a_changed_greeting_fails_at_the_output_block_that_shows_it_with_both_texts(
    engine, course, sentinels, recorder, record_property
):
    course.edit(
        "sample_app/main.py", '"Hello from simple-app {version}!', '"Hi from simple-app {version}!'
    )
    line = course.fence("exercise-1.md", "Hello from simple-app {{ tag_single }}!")
    before = engine_objects(engine)

    run = course.run("exercise-1.md", recorder)
    record_property("seconds", round(run.seconds, 1))

    failure = assert_fails_only_at(run, "exercise-1.md", line)
    assert "does not match the page" in failure.message
    assert "-Hello from simple-app 0.1.0!" in failure.message
    assert "+Hi from simple-app 0.1.0!" in failure.message
    assert_run_kept_the_engine(engine, before, recorder, run)
    assert_sentinels_survived(engine, sentinels)


def test_a_passing_run_of_every_exercise_leaves_nothing_and_keeps_the_users_objects(
    engine, course, sentinels, recorder, record_property
):
    before = engine_objects(engine)

    run = course.run("exercise-3.md", recorder)
    record_property("seconds", round(run.seconds, 1))

    assert run.status == pytest.ExitCode.OK, run.output[-3000:]
    pages = {block.page for block in run.blocks}
    assert pages == {"exercise-1.md", "exercise-2.md", "exercise-3.md"}
    assert not run.failures()
    assert_run_kept_the_engine(engine, before, recorder, run)
    assert_sentinels_survived(engine, sentinels)
